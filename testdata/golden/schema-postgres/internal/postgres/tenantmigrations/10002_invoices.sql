-- invoices: a tenant-scoped resource added with `saaskit add resource`.

-- +goose Up
CREATE TABLE invoices (
    id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    number text NOT NULL CHECK (number <> '' AND length(number) <= 200),
    title text,
    amount_cents bigint NOT NULL,
    qty integer NOT NULL DEFAULT 1,
    paid boolean NOT NULL DEFAULT false,
    total numeric,
    due_at timestamptz,
    issued_on date,
    ext uuid,
    meta jsonb,
    customer_id uuid REFERENCES customers (id),
    status text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'open', 'paid')),
    code text NOT NULL CHECK (code <> '' AND length(code) <= 200),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (number)
);

-- Keyset pagination in creation order.
CREATE INDEX invoices_created ON invoices (created_at, id);
CREATE INDEX invoices_customer_id ON invoices (customer_id);
CREATE INDEX invoices_code ON invoices (code);

-- +goose Down
DROP TABLE invoices;

-- invoices: a tenant-scoped resource added with `saaskit add resource`.
-- Like every tenant table (see 00001_projects.sql): tenant_id leads the
-- primary key, every unique key, index and foreign key, and forced
-- row-level security keeps each transaction to its tenant.

-- +goose Up
CREATE TABLE invoices (
    -- The seal's tenant, unchecked: the policy's WITH CHECK checks it.
    tenant_id  uuid        NOT NULL DEFAULT NULLIF(split_part(current_setting('app.tenant_seal', true), '.', 1), '')::uuid
                           REFERENCES tenants (id) ON DELETE CASCADE,
    id         uuid        NOT NULL DEFAULT gen_random_uuid(),
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
    customer_id uuid,
    status text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'open', 'paid')),
    code text NOT NULL CHECK (code <> '' AND length(code) <= 200),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, number),
    -- A reference to another tenant's row is impossible: the key includes tenant_id.
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id)
);

-- Keyset pagination in creation order.
CREATE INDEX invoices_tenant_created ON invoices (tenant_id, created_at, id);
CREATE INDEX invoices_customer_id ON invoices (tenant_id, customer_id);
CREATE INDEX invoices_code ON invoices (tenant_id, code);

ALTER TABLE invoices ENABLE ROW LEVEL SECURITY;
ALTER TABLE invoices FORCE ROW LEVEL SECURITY;

-- app_tenant() is the tenant the transaction is sealed to (NULL without a
-- seal, so no row matches); a subquery, so it runs once per statement.
CREATE POLICY tenant_isolation ON invoices
    USING (tenant_id = (SELECT app_tenant()))
    WITH CHECK (tenant_id = (SELECT app_tenant()));

-- +goose Down
DROP TABLE invoices;

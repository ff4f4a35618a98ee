-- customers: a tenant-scoped resource added with `saaskit add resource`.

-- +goose Up
CREATE TABLE customers (
    id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    name text NOT NULL CHECK (name <> '' AND length(name) <= 200),
    email text NOT NULL CHECK (email <> '' AND length(email) <= 200),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (email)
);

-- Keyset pagination in creation order.
CREATE INDEX customers_created ON customers (created_at, id);

-- +goose Down
DROP TABLE customers;

-- customers: a tenant-scoped resource added with `saaskit add resource`.
-- Like every tenant table (see 00001_projects.sql): tenant_id leads the
-- primary key, every unique key, index and foreign key, and forced
-- row-level security keeps each transaction to its tenant.

-- +goose Up
CREATE TABLE customers (
    -- The seal's tenant, unchecked: the policy's WITH CHECK checks it.
    tenant_id  uuid        NOT NULL DEFAULT NULLIF(split_part(current_setting('app.tenant_seal', true), '.', 1), '')::uuid
                           REFERENCES tenants (id) ON DELETE CASCADE,
    id         uuid        NOT NULL DEFAULT gen_random_uuid(),
    name text NOT NULL CHECK (name <> '' AND length(name) <= 200),
    email text NOT NULL CHECK (email <> '' AND length(email) <= 200),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, email)
);

-- Keyset pagination in creation order.
CREATE INDEX customers_tenant_created ON customers (tenant_id, created_at, id);

ALTER TABLE customers ENABLE ROW LEVEL SECURITY;
ALTER TABLE customers FORCE ROW LEVEL SECURITY;

-- app_tenant() is the tenant the transaction is sealed to (NULL without a
-- seal, so no row matches); a subquery, so it runs once per statement.
CREATE POLICY tenant_isolation ON customers
    USING (tenant_id = (SELECT app_tenant()))
    WITH CHECK (tenant_id = (SELECT app_tenant()));

-- +goose Down
DROP TABLE customers;

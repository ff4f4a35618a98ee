-- Tenant tables share one set of tables: tenant_id is on every row and
-- leads every key, and row-level security keeps each transaction to its
-- tenant. This file, written before the tenant seal, reads the tenant from
-- app.tenant_id; migrate moves its default and policy onto app_tenant(),
-- the tenant whose seal the transaction carries (see tenant_row.go).
--
-- Every tenant table follows this pattern:
--   * tenant_id uuid NOT NULL DEFAULT (the seal's tenant, as
--     `saaskit add resource` writes it), referencing tenants;
--   * tenant_id first in the primary key, every unique key and every foreign key
--     (a foreign key to another tenant table is (tenant_id, x_id) → (tenant_id, id)),
--     so no row can point at another tenant's row;
--   * ENABLE and FORCE ROW LEVEL SECURITY with the policy tenant_isolation,
--     tenant_id = (SELECT app_tenant()) (as `saaskit add resource` writes it).
-- The tests check the catalog for all three.

-- +goose Up
CREATE TABLE projects (
    -- The default fills in the transaction's tenant. When app.tenant_id is
    -- unset or empty it is NULL, so the insert fails the NOT NULL constraint.
    tenant_id  uuid        NOT NULL DEFAULT NULLIF(current_setting('app.tenant_id', true), '')::uuid
                           REFERENCES tenants (id) ON DELETE CASCADE,
    id         uuid        NOT NULL DEFAULT gen_random_uuid(),
    name       text        NOT NULL CHECK (name <> '' AND length(name) <= 200),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);

-- Keyset pagination of one tenant's projects in creation order.
CREATE INDEX projects_tenant_created ON projects (tenant_id, created_at, id);

ALTER TABLE projects ENABLE ROW LEVEL SECURITY;
-- FORCE: the policy applies to the table's owner too (superusers and roles
-- with BYPASSRLS still bypass it, which is why the app connects as neither).
ALTER TABLE projects FORCE ROW LEVEL SECURITY;

-- Fails closed: with app.tenant_id unset or empty the comparison is NULL, so
-- no row is visible and no row can be written.
CREATE POLICY tenant_isolation ON projects
    USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid);

COMMENT ON TABLE projects IS 'An example tenant-scoped resource: replace or extend it.';

-- +goose Down
DROP TABLE projects;

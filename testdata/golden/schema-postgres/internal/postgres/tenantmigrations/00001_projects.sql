-- Tenant tables. These migrations run once per tenant, inside the tenant's
-- own schema (t_<slug>, reached through search_path: never qualify names),
-- each recording its progress in its own goose_db_version table.

-- +goose Up
CREATE TABLE projects (
    id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    name       text        NOT NULL CHECK (name <> '' AND length(name) <= 200),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Keyset pagination in creation order.
CREATE INDEX projects_created ON projects (created_at, id);

COMMENT ON TABLE projects IS 'An example tenant-scoped resource: replace or extend it.';

-- +goose Down
DROP TABLE projects;

-- Where each tenant's own migrations stand, written by the tenant migration
-- runner after every tenant it visits. The version table inside each tenant's
-- storage stays the source of truth; this table is the operator's overview and
-- lets chunked runs (tenant migrate --limit) pick the tenants still behind.

-- +goose Up
CREATE TABLE tenant_migrations (
    tenant_id  uuid        PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    version    bigint      NOT NULL,
    state      text        NOT NULL CHECK (state IN ('ok', 'failed')),
    error      text        NOT NULL DEFAULT '',
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX tenant_migrations_version ON tenant_migrations (version);

-- +goose Down
DROP TABLE tenant_migrations;

-- The control plane: data that belongs to no single tenant.

-- +goose Up
CREATE TABLE tenants (
    id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    slug       text        NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9-]{3,40}$'),
    name       text        NOT NULL CHECK (name <> ''),
    created_at timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE tenants IS 'One row per tenant; slug names its subdomain and never reaches SQL unquoted.';

-- +goose Down
DROP TABLE tenants;

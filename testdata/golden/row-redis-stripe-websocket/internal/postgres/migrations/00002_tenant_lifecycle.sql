-- Tenants are created in two steps: the row first, in state provisioning,
-- then the tenant's storage; only then does the row become active. A tenant
-- still provisioning never resolves, so a creation that dies half-way is
-- never served (and the next creation of the slug clears it up).
--
-- The slug check becomes the same rule as domain.ValidateSlugSyntax, so no
-- path around the application can store a slug unsafe to derive Postgres
-- names (and subdomains) from.

-- +goose Up
ALTER TABLE tenants
    ADD COLUMN state text NOT NULL DEFAULT 'active' CHECK (state IN ('provisioning', 'active')),
    DROP CONSTRAINT tenants_slug_check,
    ADD CONSTRAINT tenants_slug_check CHECK (length(slug) BETWEEN 3 AND 40 AND slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
    DROP CONSTRAINT tenants_name_check,
    ADD CONSTRAINT tenants_name_check CHECK (name <> '' AND length(name) <= 100);

-- Tenants that exist already are active; new ones start provisioning.
ALTER TABLE tenants ALTER COLUMN state SET DEFAULT 'provisioning';

-- +goose Down
ALTER TABLE tenants
    DROP COLUMN state,
    DROP CONSTRAINT tenants_slug_check,
    ADD CONSTRAINT tenants_slug_check CHECK (slug ~ '^[a-z0-9-]{3,40}$'),
    DROP CONSTRAINT tenants_name_check,
    ADD CONSTRAINT tenants_name_check CHECK (name <> '');

-- A tenant can be suspended (tenant suspend) and resumed (tenant resume). A
-- suspended tenant keeps its row, its storage and its slug, and is served to
-- no one: it resolves exactly as an unknown slug does.
--
-- Every process caches resolved tenants. So that a change reaches all of
-- them at once, and not only after the cache's TTL, any update or delete of
-- a tenant row notifies channel tenant_changed with the slug (the old and the
-- new one, should a slug ever change). Postgres delivers the notification
-- when the transaction commits, and not at all when it rolls back; the trigger
-- fires for changes made outside the app (psql) too. Inserts notify nothing:
-- unknown slugs are never cached.

-- +goose Up
ALTER TABLE tenants
    DROP CONSTRAINT tenants_state_check,
    ADD CONSTRAINT tenants_state_check CHECK (state IN ('provisioning', 'active', 'suspended'));

-- +goose StatementBegin
CREATE FUNCTION notify_tenant_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tenant_changed', OLD.slug);
    IF TG_OP = 'UPDATE' AND NEW.slug <> OLD.slug THEN
        PERFORM pg_notify('tenant_changed', NEW.slug);
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER tenants_notify_changed
    AFTER UPDATE OR DELETE ON tenants
    FOR EACH ROW EXECUTE FUNCTION notify_tenant_changed();

-- +goose Down
-- Going back would have to serve suspended tenants again (suspended for a
-- reason: abuse, non-payment): refuse while there are any.
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM tenants WHERE state = 'suspended') THEN
        RAISE EXCEPTION 'tenants are suspended: resume or delete them before migrating below 00012';
    END IF;
END
$$;
-- +goose StatementEnd
DROP TRIGGER tenants_notify_changed ON tenants;
DROP FUNCTION notify_tenant_changed();
ALTER TABLE tenants
    DROP CONSTRAINT tenants_state_check,
    ADD CONSTRAINT tenants_state_check CHECK (state IN ('provisioning', 'active'));

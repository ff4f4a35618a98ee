-- A tenant can be deleted (DELETE /v1/tenants/{slug}, tenant delete). The
-- deletion first puts the row in state deleting, which resolves nowhere,
-- then drops the tenant's storage, then deletes the row (and with it the
-- tenant's memberships, roles, invitations, grants, API keys and billing
-- rows). A row left deleting by a deletion that died half-way is finished
-- by the next deletion of the slug, or by the next creation of it.

-- +goose Up
ALTER TABLE tenants
    DROP CONSTRAINT tenants_state_check,
    ADD CONSTRAINT tenants_state_check CHECK (state IN ('provisioning', 'active', 'suspended', 'deleting'));

-- +goose Down
-- Going back would leave half-deleted tenants in a state older code does
-- not know: refuse while there are any.
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM tenants WHERE state = 'deleting') THEN
        RAISE EXCEPTION 'tenants are being deleted: finish with tenant delete before migrating below 00014';
    END IF;
END
$$;
-- +goose StatementEnd
ALTER TABLE tenants
    DROP CONSTRAINT tenants_state_check,
    ADD CONSTRAINT tenants_state_check CHECK (state IN ('provisioning', 'active', 'suspended'));

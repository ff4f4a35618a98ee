-- The control plane's audit log: changes made in control-plane transactions
-- (tenants, users, memberships, roles, grants, invitations, API keys,
-- suspension), written in the change's transaction. One hash chain per
-- tenant, tenant_id being the nil UUID for changes that belong to none (a
-- user signing up). Append-only like the tenants' logs: no role holds
-- UPDATE, DELETE or TRUNCATE on control_audit_entries and a trigger refuses
-- them. No foreign keys: the log outlives a deleted tenant or user.
--
-- audit_heads keeps the head (last seq and hash) of every tenant's own
-- audit chain, which lives in the tenant's storage: written with each
-- entry, it is what shows that the newest entries of a tenant's log were
-- cut off, which the chain alone cannot.

-- +goose Up
CREATE TABLE control_audit_entries (
    tenant_id   uuid        NOT NULL,
    seq         bigint      NOT NULL CHECK (seq > 0),
    at          timestamptz NOT NULL,
    action      text        NOT NULL,
    target_type text        NOT NULL,
    target_id   text        NOT NULL,
    user_id     text        NOT NULL,
    api_key_id  text        NOT NULL,
    request_id  text        NOT NULL,
    ip          text        NOT NULL,
    user_agent  text        NOT NULL,
    before      json,
    after       json,
    prev_hash   bytea       NOT NULL,
    hash        bytea       NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);

CREATE INDEX control_audit_entries_at ON control_audit_entries (tenant_id, at, seq);

CREATE TABLE control_audit_chain (
    tenant_id   uuid   NOT NULL PRIMARY KEY,
    seq         bigint NOT NULL,
    hash        bytea  NOT NULL,
    pruned_seq  bigint NOT NULL DEFAULT 0,
    pruned_hash bytea  NOT NULL
);

CREATE TABLE audit_heads (
    tenant_id  uuid        NOT NULL PRIMARY KEY,
    seq        bigint      NOT NULL,
    hash       bytea       NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- +goose StatementBegin
CREATE FUNCTION control_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('audit.prune', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit entries are append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
-- +goose StatementEnd

CREATE TRIGGER control_audit_entries_append_only BEFORE UPDATE OR DELETE ON control_audit_entries
    FOR EACH ROW EXECUTE FUNCTION control_audit_append_only();
CREATE TRIGGER control_audit_entries_no_truncate BEFORE TRUNCATE ON control_audit_entries
    FOR EACH STATEMENT EXECUTE FUNCTION control_audit_append_only();

REVOKE UPDATE, DELETE, TRUNCATE ON control_audit_entries FROM PUBLIC, CURRENT_USER;

COMMENT ON TABLE control_audit_entries IS 'The control plane''s audit log: append-only, hash-chained per tenant (nil UUID: no tenant).';
COMMENT ON TABLE audit_heads IS 'The head of each tenant''s audit chain, kept apart from it so a cut-off log shows.';

-- +goose Down
DROP TABLE audit_heads;
DROP TABLE control_audit_chain;
DROP TABLE control_audit_entries;
DROP FUNCTION control_audit_append_only();

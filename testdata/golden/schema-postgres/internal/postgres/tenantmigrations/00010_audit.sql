-- The tenant's audit log: one entry per change, written in the change's
-- transaction, append-only and hash-chained. Entry seq of a tenant commits
-- to entry seq-1 through prev_hash; audit_chain holds the chain's head
-- (the last seq and hash, locked by each writer so that concurrent changes
-- make one chain) and its anchor (the last entry retention pruned).
--
-- Append-only twice over: nobody, the owner included, holds UPDATE, DELETE
-- or TRUNCATE on audit_entries, and a trigger refuses them even to a
-- superuser. Retention prunes as the owner, granting itself DELETE and
-- setting audit.prune for its own transaction only.

-- +goose Up
CREATE TABLE audit_entries (
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
    -- json, not jsonb: the hash covers these bytes as written.
    before      json,
    after       json,
    prev_hash   bytea       NOT NULL,
    hash        bytea       NOT NULL,
    PRIMARY KEY (seq)
);

CREATE INDEX audit_entries_at ON audit_entries (at, seq);

CREATE TABLE audit_chain (
    one         boolean NOT NULL DEFAULT true PRIMARY KEY CHECK (one),
    seq         bigint NOT NULL,
    hash        bytea  NOT NULL,
    pruned_seq  bigint NOT NULL DEFAULT 0,
    pruned_hash bytea  NOT NULL
);

-- +goose StatementBegin
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('audit.prune', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit entries are append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
-- +goose StatementEnd

CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON audit_entries
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_entries_no_truncate BEFORE TRUNCATE ON audit_entries
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();

REVOKE UPDATE, DELETE, TRUNCATE ON audit_entries FROM PUBLIC, CURRENT_USER;

COMMENT ON TABLE audit_entries IS 'The tenant''s audit log: append-only, hash-chained; see audit_chain.';
COMMENT ON TABLE audit_chain IS 'The head of the tenant''s audit chain (locked by each writer) and its anchor (the last pruned entry).';

-- +goose Down
DROP TABLE audit_chain;
DROP TABLE audit_entries;
DROP FUNCTION audit_append_only();

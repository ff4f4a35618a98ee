-- The control-plane chain's head also keeps the hash it moved from, as the
-- tenant chains' heads do (tenant migration 00011): an append moves the
-- head with one upsert and reads back the new hash and the one before it.
-- NULL until the next append sets it; nothing else reads it.

-- +goose Up
ALTER TABLE control_audit_chain ADD COLUMN prev_hash bytea;

-- +goose Down
ALTER TABLE control_audit_chain DROP COLUMN prev_hash;

-- The chain's head also keeps the hash it moved from: an append moves the
-- head with one upsert (a chain's first entry makes it) and reads back the
-- new hash and the one before it, which the entry stores as prev_hash.
-- NULL until the next append sets it; nothing else reads it.

-- +goose Up
ALTER TABLE audit_chain ADD COLUMN prev_hash bytea;

-- +goose Down
ALTER TABLE audit_chain DROP COLUMN prev_hash;

-- Accounts acting without a session: single-use tokens mailed to a user's
-- address (resetting a forgotten password, verifying the address), kept by
-- the SHA-256 of the token like sessions and used up by deleting them; and
-- when a user's address was verified.

-- +goose Up
CREATE TABLE account_tokens (
    token_hash bytea       PRIMARY KEY CHECK (length(token_hash) = 32),
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    text        NOT NULL CHECK (purpose IN ('password_reset', 'email_verification')),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);

CREATE INDEX account_tokens_user ON account_tokens (user_id, purpose);

ALTER TABLE users ADD COLUMN email_verified_at timestamptz;

-- Users from before verification existed are taken as verified, so that
-- requiring it locks none of them out.
UPDATE users SET email_verified_at = created_at;

-- +goose Down
ALTER TABLE users DROP COLUMN email_verified_at;
DROP TABLE account_tokens;

-- Single-use tokens mailed to a user's address to act on their account
-- without a session: for now, resetting a forgotten password. Kept by the
-- SHA-256 of the token, like sessions; a token is used up by deleting it.

-- +goose Up
CREATE TABLE account_tokens (
    token_hash bytea       PRIMARY KEY CHECK (length(token_hash) = 32),
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    text        NOT NULL CHECK (purpose IN ('password_reset')),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);

CREATE INDEX account_tokens_user ON account_tokens (user_id, purpose);

-- +goose Down
DROP TABLE account_tokens;

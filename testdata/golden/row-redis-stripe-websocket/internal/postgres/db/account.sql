-- Account queries: single-use account tokens (password reset, email
-- verification), verified addresses and ending a user's sessions when their
-- password changes.

-- name: InsertAccountToken :exec
INSERT INTO account_tokens (token_hash, user_id, purpose, expires_at)
VALUES (@token_hash, @user_id, @purpose, @expires_at);

-- name: DeleteAccountTokens :exec
-- Every token of a user for a purpose, live or not: a new one supersedes
-- them, and a changed password kills them.
DELETE FROM account_tokens
WHERE user_id = @user_id AND purpose = @purpose;

-- name: AccountTokenIsLive :one
-- Whether a token could be used now, without using it up.
SELECT EXISTS (
    SELECT 1
    FROM account_tokens
    WHERE token_hash = @token_hash AND purpose = @purpose AND expires_at > now()
);

-- name: ClaimAccountToken :one
-- Uses a live token up: no row when it is unknown, expired, used or for
-- another purpose.
DELETE FROM account_tokens
WHERE token_hash = @token_hash AND purpose = @purpose AND expires_at > now()
RETURNING user_id;

-- name: DeleteUserSessions :exec
DELETE FROM sessions
WHERE user_id = @user_id;

-- name: DeleteOtherSessions :exec
-- Every session of a user but the one whose token hashes to keep.
DELETE FROM sessions
WHERE user_id = @user_id AND token_hash <> @keep;

-- name: MarkEmailVerified :exec
-- Keeps the first time when the address was verified already.
UPDATE users
SET email_verified_at = coalesce(email_verified_at, now())
WHERE id = @id;

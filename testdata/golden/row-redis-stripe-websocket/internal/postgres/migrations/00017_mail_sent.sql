-- Messages the mail server accepted, by Message-ID (derived from the mail
-- job's tenant and key). The worker writes a row as soon as a message is
-- accepted, outside the job's transaction, so a job retried after its send
-- (its transaction failed to commit) finds it and does not send again.
-- Rows older than the job keys' retention are pruned with them.

-- +goose Up
CREATE TABLE mail_sent (
    message_id text        PRIMARY KEY,
    sent_at    timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX mail_sent_sent_at ON mail_sent (sent_at);

-- +goose Down
DROP TABLE mail_sent;

-- The idempotency keys of this tenant's background jobs. A job runs in a
-- transaction on the tenant's database, so the key that makes a second
-- delivery a no-op has to commit there, with the job's writes; the control
-- database keeps the keys of control-plane jobs (its job_processed has the
-- same shape, so one query serves both).

-- +goose Up
CREATE TABLE job_processed (
    tenant_id    text        NOT NULL,
    kind         text        NOT NULL,
    key          text        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, kind, key)
);

CREATE INDEX job_processed_processed_at ON job_processed (processed_at);

COMMENT ON TABLE job_processed IS 'Idempotency keys of this tenant''s jobs whose handler committed; a second delivery of a key is skipped.';

-- +goose Down
DROP TABLE job_processed;

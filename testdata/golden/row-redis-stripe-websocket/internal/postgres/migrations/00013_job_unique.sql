-- Unique jobs on a broker outside Postgres. The broker cannot tell whether a
-- twin of a unique job is still to run (it forgets a message id after its
-- deduplication window, and a finished or discarded job is not a twin), so
-- the key is held here instead: Enqueue inserts it in the business
-- transaction, and the worker deletes it once the job has completed, been
-- discarded or been cancelled. The primary key makes concurrent enqueues of
-- one key wait for each other, so exactly one of them takes it.

-- +goose Up
CREATE TABLE job_unique (
    unique_key text        PRIMARY KEY,
    job_id     text        NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE job_unique IS 'Unique jobs not yet finished. unique_key is a hash of the kind, tenant and UniqueKey; job_id the job holding it.';
COMMENT ON TABLE job_outbox IS 'Jobs committed but not yet published to the broker. id is the broker message id (deduplication of the relay''s copies); unique jobs hold their key in job_unique.';

-- +goose Down
COMMENT ON TABLE job_outbox IS 'Jobs committed but not yet published to the broker. id is the broker message id (deduplication); unique jobs share a derived id.';
DROP TABLE job_unique;

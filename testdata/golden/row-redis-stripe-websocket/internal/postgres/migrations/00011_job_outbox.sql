-- The transactional outbox: jobs enqueued in a business transaction wait
-- here until the relay has published them to the broker.

-- +goose Up
CREATE TABLE job_outbox (
    id         text        PRIMARY KEY,
    queue      text        NOT NULL,
    kind       text        NOT NULL,
    payload    jsonb       NOT NULL,
    run_at     timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX job_outbox_run_at ON job_outbox (run_at);

COMMENT ON TABLE job_outbox IS 'Jobs committed but not yet published to the broker. id is the broker message id (deduplication); unique jobs share a derived id.';

-- Wakes the relay when a transaction that enqueued jobs commits (a
-- notification is delivered at commit, and not at all on rollback).
-- +goose StatementBegin
CREATE FUNCTION job_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('job_outbox', '');
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER job_outbox_notify AFTER INSERT ON job_outbox
    FOR EACH STATEMENT EXECUTE FUNCTION job_outbox_notify();

-- +goose Down
DROP TABLE job_outbox;
DROP FUNCTION job_outbox_notify();

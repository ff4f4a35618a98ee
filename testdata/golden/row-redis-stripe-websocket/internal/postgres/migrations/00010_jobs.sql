-- Background jobs: the keys that make handlers idempotent, and the slots
-- periodic jobs have fired for.

-- +goose Up
CREATE TABLE job_processed (
    tenant_id    text        NOT NULL,
    kind         text        NOT NULL,
    key          text        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, kind, key)
);

CREATE INDEX job_processed_processed_at ON job_processed (processed_at);

COMMENT ON TABLE job_processed IS 'Idempotency keys of jobs whose handler committed; a second delivery of a key is skipped. tenant_id is empty for control-plane jobs.';

CREATE TABLE job_periodic_runs (
    name text        NOT NULL,
    slot timestamptz NOT NULL,
    PRIMARY KEY (name, slot)
);

COMMENT ON TABLE job_periodic_runs IS 'One row per periodic-job firing, so that however many workers run the schedule each slot enqueues one job.';

-- +goose Down
DROP TABLE job_periodic_runs;
DROP TABLE job_processed;

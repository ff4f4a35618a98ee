-- name: InsertOutboxJob :exec
-- Qualified, so that a job handler can enqueue from a transaction whose
-- search_path is its tenant's schema. The payload travels as text: a pool in
-- QueryExecModeExec (the schema-mode tenants' pool, which identity uses too)
-- would send a []byte as bytea, which is not valid jsonb.
INSERT INTO public.job_outbox (id, queue, kind, payload, run_at)
VALUES (@id, @queue, @kind, (@payload::text)::jsonb, @run_at);

-- name: ClaimDueOutboxJobs :many
-- Locks a batch of due jobs; other relays skip them until this transaction ends.
SELECT id, queue, payload
FROM job_outbox
WHERE run_at <= now()
ORDER BY run_at
LIMIT @max_jobs
FOR UPDATE SKIP LOCKED;

-- name: DeleteOutboxJobs :exec
DELETE FROM job_outbox
WHERE id = ANY(@ids::text[]);

-- name: DeleteOutboxJob :execrows
DELETE FROM job_outbox
WHERE id = @id;

-- name: CountOutboxJobs :many
SELECT queue, (CASE WHEN run_at <= now() THEN 'outbox' ELSE 'scheduled' END)::text AS state, count(*) AS jobs
FROM job_outbox
GROUP BY 1, 2
ORDER BY 1, 2;

-- name: ListOutboxJobs :many
-- The jobs still in the outbox, scheduled ones (not due yet) or due ones
-- the relay has not published yet, filtered as `jobs list` asks ('' for no
-- filter; tenant 'control-plane' for jobs of no tenant).
SELECT id, payload::text AS payload, run_at
FROM job_outbox
WHERE (run_at > now()) = @scheduled::bool
  AND (@kind::text = '' OR kind = @kind::text)
  AND (@queue::text = '' OR queue = @queue::text)
  AND (@tenant::text = '' OR coalesce(payload -> 'tenant' ->> 'slug', 'control-plane') = @tenant::text)
ORDER BY run_at, id
LIMIT @max_jobs;

-- name: HoldUniqueJob :one
-- Takes unique_key for job_id and returns job_id, or returns the id of the
-- job already holding it. A concurrent enqueue of the same key waits here for
-- the first to commit or roll back. Returns no row when the holder committed
-- after this statement's snapshot was taken: run it again.
WITH taken AS (
    INSERT INTO public.job_unique (unique_key, job_id)
    VALUES (@unique_key, @job_id)
    ON CONFLICT (unique_key) DO NOTHING
    RETURNING job_id
)
SELECT job_id FROM taken
UNION ALL
SELECT job_id FROM public.job_unique WHERE unique_key = @unique_key
LIMIT 1;

-- name: ReleaseUniqueJob :exec
-- Frees the unique key job_id holds, if any: the job has finished.
DELETE FROM job_unique
WHERE job_id = @job_id;

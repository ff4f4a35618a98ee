-- name: InsertOutboxJob :execrows
-- 0 rows when a job with the same id (a unique job) is already waiting.
-- Qualified, so that a job handler can enqueue from a transaction whose
-- search_path is its tenant's schema. The payload travels as text: a pool in
-- QueryExecModeExec (the schema-mode tenants' pool, which identity uses too)
-- would send a []byte as bytea, which is not valid jsonb.
INSERT INTO public.job_outbox (id, queue, kind, payload, run_at)
VALUES (@id, @queue, @kind, (@payload::text)::jsonb, @run_at)
ON CONFLICT (id) DO NOTHING;

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

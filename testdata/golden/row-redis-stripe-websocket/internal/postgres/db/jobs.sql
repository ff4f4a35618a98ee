-- name: MarkJobProcessed :execrows
-- Records a job's idempotency key; 0 rows means an earlier delivery already
-- committed it. It runs in the job's own transaction, inside its tenant's
-- scope, so the name is qualified: in schema mode search_path names only the
-- tenant's schema (and in database mode, where that transaction is in the
-- tenant's database, the tenant migrations make a job_processed of its own).
INSERT INTO public.job_processed (tenant_id, kind, key)
VALUES (@tenant_id, @kind, @key)
ON CONFLICT DO NOTHING;

-- name: PruneProcessedJobs :execrows
DELETE FROM job_processed
WHERE processed_at < @before;

-- name: MailSent :one
SELECT EXISTS (SELECT 1 FROM mail_sent WHERE message_id = @message_id);

-- name: RecordMailSent :exec
INSERT INTO mail_sent (message_id) VALUES (@message_id)
ON CONFLICT DO NOTHING;

-- name: PruneMailSent :execrows
DELETE FROM mail_sent
WHERE sent_at < @before;

-- name: ClaimPeriodicSlot :execrows
-- 1 row when this worker is the first to fire the slot.
INSERT INTO job_periodic_runs (name, slot)
VALUES (@name, @slot)
ON CONFLICT DO NOTHING;

-- name: PrunePeriodicRuns :execrows
DELETE FROM job_periodic_runs
WHERE slot < @before;

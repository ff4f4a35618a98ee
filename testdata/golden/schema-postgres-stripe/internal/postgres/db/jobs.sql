-- name: MarkJobProcessed :execrows
-- Records a job's idempotency key; 0 rows means an earlier delivery already committed it.
INSERT INTO job_processed (tenant_id, kind, key)
VALUES (@tenant_id, @kind, @key)
ON CONFLICT DO NOTHING;

-- name: PruneProcessedJobs :execrows
DELETE FROM job_processed
WHERE processed_at < @before;

-- name: ClaimPeriodicSlot :execrows
-- 1 row when this worker is the first to fire the slot.
INSERT INTO job_periodic_runs (name, slot)
VALUES (@name, @slot)
ON CONFLICT DO NOTHING;

-- name: PrunePeriodicRuns :execrows
DELETE FROM job_periodic_runs
WHERE slot < @before;

-- name: PruneTenantProcessedJobs :execrows
-- Deletes the tenant's expired job keys (see jobs.ProcessedRetention).
DELETE FROM job_processed
WHERE processed_at < @before;

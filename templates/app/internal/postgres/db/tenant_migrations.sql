-- name: RecordTenantMigration :exec
INSERT INTO tenant_migrations (tenant_id, version, state, error)
VALUES (@tenant_id, @version, @state, @error)
ON CONFLICT (tenant_id) DO UPDATE
SET version = excluded.version, state = excluded.state, error = excluded.error, updated_at = now();

-- name: ListTenantsBehind :many
-- Active tenants not recorded at @version: never migrated by the runner,
-- behind, or failed last time. Keyset pagination by slug, like ListActiveTenants.
SELECT sqlc.embed(t)
FROM tenants t
LEFT JOIN tenant_migrations m ON m.tenant_id = t.id
WHERE t.state = 'active'
  AND t.slug > @after_slug
  AND (m.tenant_id IS NULL OR m.version <> @version::bigint OR m.state <> 'ok')
ORDER BY t.slug
LIMIT @max_items;

-- name: GetTenantMigration :one
SELECT *
FROM tenant_migrations
WHERE tenant_id = @tenant_id;

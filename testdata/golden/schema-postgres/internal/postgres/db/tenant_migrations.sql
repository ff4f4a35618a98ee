-- name: RecordTenantMigration :exec
INSERT INTO tenant_migrations (tenant_id, version, state, error)
VALUES (@tenant_id, @version, @state, @error)
ON CONFLICT (tenant_id) DO UPDATE
SET version = excluded.version, state = excluded.state, error = excluded.error, updated_at = now();

-- name: ListTenantsBehind :many
-- Active and suspended tenants (whose storage is kept, and must be current
-- when they are resumed) not recorded at @version: never migrated by the
-- runner, behind, or failed last time. Keyset pagination by slug.
SELECT sqlc.embed(t)
FROM tenants t
LEFT JOIN tenant_migrations m ON m.tenant_id = t.id
WHERE t.state IN ('active', 'suspended')
  AND t.slug > @after_slug
  AND (m.tenant_id IS NULL OR m.version <> @version::bigint OR m.state <> 'ok')
ORDER BY t.slug
LIMIT @max_items;

-- name: GetTenantMigration :one
SELECT *
FROM tenant_migrations
WHERE tenant_id = @tenant_id;

-- name: ListMigratableTenants :many
-- Every tenant with storage to migrate: active and suspended ones. Keyset
-- pagination by slug.
SELECT *
FROM tenants
WHERE state IN ('active', 'suspended') AND slug > @after_slug
ORDER BY slug
LIMIT @max_items;

-- name: InsertTenant :one
-- A new tenant starts in state provisioning and does not resolve until
-- ActivateTenant: a tenant whose storage is half made is never served.
INSERT INTO tenants (slug, name)
VALUES (@slug, @name)
RETURNING *;

-- name: ActivateTenant :exec
UPDATE tenants
SET state = 'active'
WHERE id = @id;

-- name: SetTenantSuspended :one
-- Suspends (@suspended) or resumes an active or suspended tenant; a tenant
-- still provisioning is left alone (no row comes back). Setting the state it
-- already has changes nothing.
UPDATE tenants
SET state = CASE WHEN @suspended::boolean THEN 'suspended' ELSE 'active' END
WHERE slug = @slug AND state IN ('active', 'suspended')
RETURNING *;

-- name: DeleteTenant :exec
DELETE FROM tenants
WHERE id = @id;

-- name: GetTenantBySlug :one
-- Any state: provisioning needs to see an earlier, interrupted attempt.
SELECT *
FROM tenants
WHERE slug = @slug;

-- name: GetActiveTenantBySlug :one
SELECT *
FROM tenants
WHERE slug = @slug AND state = 'active';

-- name: ListTenants :many
-- Active and suspended tenants, for operators. Keyset pagination as below.
SELECT *
FROM tenants
WHERE state IN ('active', 'suspended') AND slug > @after_slug
ORDER BY slug
LIMIT @max_items;

-- name: ListActiveTenants :many
-- Keyset pagination: pass the last slug of the previous page, or an empty string for the first page.
SELECT *
FROM tenants
WHERE state = 'active' AND slug > @after_slug
ORDER BY slug
LIMIT @max_items;

-- name: MarkTenantDeleting :one
-- Starts the deletion of an active or suspended tenant, or picks up one a
-- deletion left half-done: from this commit on it resolves nowhere.
UPDATE tenants
SET state = 'deleting'
WHERE slug = @slug AND state IN ('active', 'suspended', 'deleting')
RETURNING *;

-- name: RenameTenant :one
-- Only an active tenant is renamed; no row comes back for any other.
UPDATE tenants
SET name = @name
WHERE slug = @slug AND state = 'active'
RETURNING *;

-- name: CreateTenant :one
INSERT INTO tenants (slug, name)
VALUES (@slug, @name)
RETURNING id, slug, name, created_at;

-- name: GetTenantBySlug :one
SELECT id, slug, name, created_at
FROM tenants
WHERE slug = @slug;

-- name: ListTenants :many
-- Keyset pagination: pass the last slug of the previous page, or an empty string for the first page.
SELECT id, slug, name, created_at
FROM tenants
WHERE slug > @after_slug
ORDER BY slug
LIMIT @max_items;

-- Queries on tenant tables. They never name a tenant: the transaction that
-- runs them (postgres.Tenants.InTenant) is already confined to one.

-- name: CreateProject :one
INSERT INTO projects (name)
VALUES (@name)
RETURNING *;

-- name: GetProject :one
SELECT *
FROM projects
WHERE id = @id;

-- name: ListProjects :many
-- Keyset pagination in creation order: pass the created_at and id of the
-- last project of the previous page, or -infinity and the zero UUID for the
-- first page.
SELECT *
FROM projects
WHERE (created_at, id) > (@after_created_at::timestamptz, @after_id::uuid)
ORDER BY created_at, id
LIMIT @max_items;

-- Queries on projects. Like every tenant query they never name a tenant:
-- the transaction that runs them (postgres.Tenants.InTenant) is confined
-- to one.

-- name: CreateProject :one
INSERT INTO projects (name)
VALUES (
    sqlc.narg('name')::text
)
RETURNING *;

-- name: GetProject :one
SELECT *
FROM projects
WHERE id = @id;

-- name: ListProjects :many
-- Keyset pagination in creation order: pass the created_at and id of the
-- last row of the previous page, or -infinity and the zero UUID for the
-- first page. A NULL filter matches every row. The condition and the order
-- are the index's (tenant_id, created_at, id), so a page reads its rows from
-- the index and stops there, however many rows the tenant has.
SELECT *
FROM projects
WHERE (created_at, id) > (@after_created_at::timestamptz, @after_id::uuid)
ORDER BY created_at, id
LIMIT @max_items;

-- name: ListProjectsDesc :many
-- ListProjects newest first: for the first page pass +infinity and the
-- largest UUID. The index serves it backwards.
SELECT *
FROM projects
WHERE (created_at, id) < (@after_created_at::timestamptz, @after_id::uuid)
ORDER BY created_at DESC, id DESC
LIMIT @max_items;

-- name: UpdateProject :one
-- A partial update: each field changes only when its set_ flag is true.
UPDATE projects
SET
    name = CASE WHEN @set_name::boolean THEN sqlc.narg('name')::text ELSE name END,
    updated_at = now()
WHERE id = @id
RETURNING *;

-- name: DeleteProject :one
DELETE FROM projects
WHERE id = @id
RETURNING *;

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
-- Keyset pagination in creation order, ascending or (descending) newest
-- first: pass the created_at and id of the last row of the previous page,
-- or -infinity and the zero UUID (+infinity and the largest UUID when
-- descending) for the first page. A NULL filter matches every row.
SELECT *
FROM projects
WHERE CASE WHEN @descending::boolean
        THEN (created_at, id) < (@after_created_at::timestamptz, @after_id::uuid)
        ELSE (created_at, id) > (@after_created_at::timestamptz, @after_id::uuid)
    END
ORDER BY
    CASE WHEN @descending::boolean THEN created_at END DESC,
    CASE WHEN @descending::boolean THEN id END DESC,
    created_at, id
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

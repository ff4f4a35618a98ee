-- Queries on customers. Like every tenant query they never name a tenant:
-- the transaction that runs them (postgres.Tenants.InTenant) is confined
-- to one.

-- name: CreateCustomer :one
INSERT INTO customers (name, email)
VALUES (
    sqlc.narg('name')::text,
    sqlc.narg('email')::text
)
RETURNING *;

-- name: GetCustomer :one
SELECT *
FROM customers
WHERE id = @id;

-- name: ListCustomers :many
-- Keyset pagination in creation order, ascending or (descending) newest
-- first: pass the created_at and id of the last row of the previous page,
-- or -infinity and the zero UUID (+infinity and the largest UUID when
-- descending) for the first page. A NULL filter matches every row.
SELECT *
FROM customers
WHERE CASE WHEN @descending::boolean
        THEN (created_at, id) < (@after_created_at::timestamptz, @after_id::uuid)
        ELSE (created_at, id) > (@after_created_at::timestamptz, @after_id::uuid)
    END
    AND (sqlc.narg('email')::text IS NULL OR email = sqlc.narg('email')::text)
ORDER BY
    CASE WHEN @descending::boolean THEN created_at END DESC,
    CASE WHEN @descending::boolean THEN id END DESC,
    created_at, id
LIMIT @max_items;

-- name: UpdateCustomer :one
-- A partial update: each field changes only when its set_ flag is true.
UPDATE customers
SET
    name = CASE WHEN @set_name::boolean THEN sqlc.narg('name')::text ELSE name END,
    email = CASE WHEN @set_email::boolean THEN sqlc.narg('email')::text ELSE email END,
    updated_at = now()
WHERE id = @id
RETURNING *;

-- name: DeleteCustomer :one
DELETE FROM customers
WHERE id = @id
RETURNING *;

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
-- Keyset pagination in creation order: pass the created_at and id of the
-- last row of the previous page, or -infinity and the zero UUID for the
-- first page. A NULL filter matches every row. The condition and the order
-- are the index's (tenant_id, created_at, id), so a page reads its rows from
-- the index and stops there, however many rows the tenant has.
SELECT *
FROM customers
WHERE (created_at, id) > (@after_created_at::timestamptz, @after_id::uuid)
    AND (sqlc.narg('email')::text IS NULL OR email = sqlc.narg('email')::text)
ORDER BY created_at, id
LIMIT @max_items;

-- name: ListCustomersDesc :many
-- ListCustomers newest first: for the first page pass +infinity and the
-- largest UUID. The index serves it backwards.
SELECT *
FROM customers
WHERE (created_at, id) < (@after_created_at::timestamptz, @after_id::uuid)
    AND (sqlc.narg('email')::text IS NULL OR email = sqlc.narg('email')::text)
ORDER BY created_at DESC, id DESC
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

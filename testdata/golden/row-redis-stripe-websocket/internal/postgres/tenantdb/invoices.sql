-- Queries on invoices. Like every tenant query they never name a tenant:
-- the transaction that runs them (postgres.Tenants.InTenant) is confined
-- to one.

-- name: CreateInvoice :one
INSERT INTO invoices (number, title, amount_cents, qty, paid, total, due_at, issued_on, ext, meta, customer_id, status, code)
VALUES (
    sqlc.narg('number')::text,
    sqlc.narg('title')::text,
    sqlc.narg('amount_cents')::bigint,
    COALESCE(sqlc.narg('qty')::integer, 1),
    COALESCE(sqlc.narg('paid')::boolean, false),
    sqlc.narg('total')::numeric,
    sqlc.narg('due_at')::timestamptz,
    sqlc.narg('issued_on')::date,
    sqlc.narg('ext')::uuid,
    sqlc.narg('meta')::text::jsonb,
    sqlc.narg('customer_id')::uuid,
    COALESCE(sqlc.narg('status')::text, 'draft'),
    sqlc.narg('code')::text
)
RETURNING *;

-- name: GetInvoice :one
SELECT *
FROM invoices
WHERE id = @id;

-- name: ListInvoices :many
-- Keyset pagination in creation order: pass the created_at and id of the
-- last row of the previous page, or -infinity and the zero UUID for the
-- first page. A NULL filter matches every row. The condition and the order
-- are the index's (tenant_id, created_at, id), so a page reads its rows from
-- the index and stops there, however many rows the tenant has.
SELECT *
FROM invoices
WHERE (created_at, id) > (@after_created_at::timestamptz, @after_id::uuid)
    AND (sqlc.narg('number')::text IS NULL OR number = sqlc.narg('number')::text)
    AND (sqlc.narg('paid')::boolean IS NULL OR paid = sqlc.narg('paid')::boolean)
    AND (sqlc.narg('ext')::uuid IS NULL OR ext = sqlc.narg('ext')::uuid)
    AND (sqlc.narg('customer_id')::uuid IS NULL OR customer_id = sqlc.narg('customer_id')::uuid)
    AND (sqlc.narg('status')::text IS NULL OR status = sqlc.narg('status')::text)
    AND (sqlc.narg('code')::text IS NULL OR code = sqlc.narg('code')::text)
ORDER BY created_at, id
LIMIT @max_items;

-- name: ListInvoicesDesc :many
-- ListInvoices newest first: for the first page pass +infinity and the
-- largest UUID. The index serves it backwards.
SELECT *
FROM invoices
WHERE (created_at, id) < (@after_created_at::timestamptz, @after_id::uuid)
    AND (sqlc.narg('number')::text IS NULL OR number = sqlc.narg('number')::text)
    AND (sqlc.narg('paid')::boolean IS NULL OR paid = sqlc.narg('paid')::boolean)
    AND (sqlc.narg('ext')::uuid IS NULL OR ext = sqlc.narg('ext')::uuid)
    AND (sqlc.narg('customer_id')::uuid IS NULL OR customer_id = sqlc.narg('customer_id')::uuid)
    AND (sqlc.narg('status')::text IS NULL OR status = sqlc.narg('status')::text)
    AND (sqlc.narg('code')::text IS NULL OR code = sqlc.narg('code')::text)
ORDER BY created_at DESC, id DESC
LIMIT @max_items;

-- name: UpdateInvoice :one
-- A partial update: each field changes only when its set_ flag is true.
UPDATE invoices
SET
    number = CASE WHEN @set_number::boolean THEN sqlc.narg('number')::text ELSE number END,
    title = CASE WHEN @set_title::boolean THEN sqlc.narg('title')::text ELSE title END,
    amount_cents = CASE WHEN @set_amount_cents::boolean THEN sqlc.narg('amount_cents')::bigint ELSE amount_cents END,
    qty = CASE WHEN @set_qty::boolean THEN sqlc.narg('qty')::integer ELSE qty END,
    paid = CASE WHEN @set_paid::boolean THEN sqlc.narg('paid')::boolean ELSE paid END,
    total = CASE WHEN @set_total::boolean THEN sqlc.narg('total')::numeric ELSE total END,
    due_at = CASE WHEN @set_due_at::boolean THEN sqlc.narg('due_at')::timestamptz ELSE due_at END,
    issued_on = CASE WHEN @set_issued_on::boolean THEN sqlc.narg('issued_on')::date ELSE issued_on END,
    ext = CASE WHEN @set_ext::boolean THEN sqlc.narg('ext')::uuid ELSE ext END,
    meta = CASE WHEN @set_meta::boolean THEN sqlc.narg('meta')::text::jsonb ELSE meta END,
    customer_id = CASE WHEN @set_customer_id::boolean THEN sqlc.narg('customer_id')::uuid ELSE customer_id END,
    status = CASE WHEN @set_status::boolean THEN sqlc.narg('status')::text ELSE status END,
    code = CASE WHEN @set_code::boolean THEN sqlc.narg('code')::text ELSE code END,
    updated_at = now()
WHERE id = @id
RETURNING *;

-- name: DeleteInvoice :one
DELETE FROM invoices
WHERE id = @id
RETURNING *;

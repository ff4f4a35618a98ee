-- A deleted tenant's Stripe customer is deleted at Stripe too, which
-- cancels its subscriptions at once: the tenant's deletion queues the
-- customer here, in the transaction that deletes the tenant's row, and the
-- worker's billing.remove_customers job deletes it at Stripe and then the
-- row. No foreign key: the tenant is gone.

-- +goose Up
CREATE TABLE billing_customer_removals (
    stripe_customer_id text        PRIMARY KEY,
    tenant_id          uuid        NOT NULL,
    queued_at          timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE billing_customer_removals;

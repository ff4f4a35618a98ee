-- Metered usage, per tenant, per metered item and per hour (UTC): what the
-- app recorded, and whether the worker has reported the hour to Stripe.
-- An hour is reported once it is over, exactly once: its meter event's
-- identifier and idempotency key derive from (tenant, item, hour), so a
-- retried report is the same event to Stripe, and reported_at keeps the
-- worker from reporting the hour again.

-- +goose Up
CREATE TABLE billing_usage (
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    item         text NOT NULL,
    period_start timestamptz NOT NULL,
    quantity     bigint NOT NULL CHECK (quantity >= 0),
    -- reported: sent to Stripe; unbilled: the tenant had no Stripe customer.
    outcome      text CHECK (outcome IN ('reported', 'unbilled')),
    reported_at  timestamptz,
    PRIMARY KEY (tenant_id, item, period_start)
);

CREATE INDEX billing_usage_unreported ON billing_usage (period_start) WHERE reported_at IS NULL;

-- +goose Down
DROP TABLE billing_usage;

-- Billing with Stripe lives in the control plane: which Stripe customer is
-- each tenant's, the tenant's subscription as the last applied event left
-- it, and every webhook event as received, once (its Stripe id is unique).
-- The worker applies events; stripe_event_created orders them, so an older
-- event never overwrites the state a newer one wrote.

-- +goose Up
CREATE TABLE billing_customers (
    tenant_id          uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    stripe_customer_id text NOT NULL UNIQUE,
    created_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE billing_subscriptions (
    tenant_id              uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    stripe_subscription_id text NOT NULL,
    stripe_customer_id     text NOT NULL,
    price_id               text NOT NULL,
    status                 text NOT NULL,
    seats                  bigint NOT NULL DEFAULT 1,
    trial_end              timestamptz,
    current_period_start   timestamptz,
    current_period_end     timestamptz,
    -- created time of the Stripe event that wrote this row.
    event_created          timestamptz NOT NULL,
    updated_at             timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE billing_events (
    id           text PRIMARY KEY,
    type         text NOT NULL,
    api_version  text NOT NULL,
    created      timestamptz NOT NULL,
    payload      jsonb NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz
);

-- +goose Down
DROP TABLE billing_events;
DROP TABLE billing_subscriptions;
DROP TABLE billing_customers;

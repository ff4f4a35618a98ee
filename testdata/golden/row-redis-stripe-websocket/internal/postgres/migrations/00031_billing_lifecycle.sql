-- Dunning: when the payment of a tenant's subscription first failed (the
-- created time of the invoice.payment_failed event), cleared when an
-- invoice is paid. A tenant whose failure is older than the grace period
-- (BILLING_GRACE_PERIOD) is read-only until it pays.

-- +goose Up
ALTER TABLE billing_subscriptions ADD COLUMN payment_failed_at timestamptz;

-- +goose Down
ALTER TABLE billing_subscriptions DROP COLUMN payment_failed_at;

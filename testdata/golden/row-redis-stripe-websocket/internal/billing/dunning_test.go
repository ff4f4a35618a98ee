package billing_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/acme/shop-api/internal/billing"
	"github.com/acme/shop-api/internal/domain"
	"github.com/acme/shop-api/internal/jobs"
)

// mailRecorder is a mail queue that keeps what billing queues.
type mailRecorder struct {
	mu    sync.Mutex
	mails []domain.Email
	keys  map[string]bool
}

func (m *mailRecorder) QueueMail(_ context.Context, _ pgx.Tx, _ domain.Tenant, key string, e domain.Email) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.keys == nil {
		m.keys = map[string]bool{}
	}
	if m.keys[key] {
		return nil // the mail job's key: sent once
	}
	m.keys[key] = true
	m.mails = append(m.mails, e)
	return nil
}

func (m *mailRecorder) subjects() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, len(m.mails))
	for i, e := range m.mails {
		out[i] = e.To + ": " + e.Subject
	}
	return out
}

// TestDunningEmails follows a failed payment's emails to the tenant's
// owners: the failure, the day before read-only and read-only (all due at
// once here, the failure being 8 days old with a 7-day grace period); a
// second failed attempt adds none; the payment sends the restored email;
// a reminder that runs after the payment sends nothing.
func TestDunningEmails(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	mails := &mailRecorder{}
	b.svc = b.svc.WithMail(mails)
	_, err := b.pool.Exec(ctx, `
		WITH u AS (INSERT INTO users (email, name, password_hash) VALUES ('boss@example.com', 'Boss', '$argon2id$x') RETURNING id)
		INSERT INTO memberships (tenant_id, user_id, role) SELECT $1, id, 'owner' FROM u`, b.tenant.ID)
	require.NoError(t, err)
	_, err = b.pool.Exec(ctx, `
		WITH u AS (INSERT INTO users (email, name, password_hash) VALUES ('staff@example.com', 'Staff', '$argon2id$x') RETURNING id)
		INSERT INTO memberships (tenant_id, user_id, role) SELECT $1, id, 'member' FROM u`, b.tenant.ID)
	require.NoError(t, err)
	_, err = b.pool.Exec(ctx, `
		INSERT INTO billing_subscriptions (tenant_id, stripe_subscription_id, stripe_customer_id, price_id, status, event_created)
		VALUES ($1, 'sub_dun', 'cus_dun', 'price_pro_monthly', 'active', now() - interval '30 days')`, b.tenant.ID)
	require.NoError(t, err)
	runWorker(t, b)

	now := time.Now()
	deliver := func(id, typ string, created time.Time) { deliverInvoice(t, b, id, typ, "sub_dun", created) }
	deliver("evt_fail1", "invoice.payment_failed", now.Add(-8*24*time.Hour))
	require.Eventually(t, func() bool { return len(mails.subjects()) == 3 }, 30*time.Second, 50*time.Millisecond, "three reminders: %v", mails.subjects())
	got := strings.Join(mails.subjects(), "\n")
	require.Contains(t, got, "boss@example.com: Payment failed for Acme")
	require.Contains(t, got, "boss@example.com: Acme becomes read-only on ")
	require.Contains(t, got, "boss@example.com: Acme is now read-only")
	require.NotContains(t, got, "staff@example.com", "owners only")

	// Stripe's next attempt fails too: the grace period and its emails
	// are the first failure's.
	deliver("evt_fail2", "invoice.payment_failed", now.Add(-7*24*time.Hour))
	deliver("evt_paid", "invoice.paid", now.Add(-time.Hour))
	require.Eventually(t, func() bool { return len(mails.subjects()) == 4 }, 30*time.Second, 50*time.Millisecond, "restored: %v", mails.subjects())
	require.Equal(t, "boss@example.com: Payment received for Acme", mails.subjects()[3])

	// A reminder of the paid failure that runs late says nothing.
	tx, err := b.pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	late := &jobs.Delivery[billing.DunningEmailArgs]{ID: "late", Key: "late", Attempt: 1, Args: billing.DunningEmailArgs{
		TenantID: b.tenant.ID, FailedAt: now.Add(-8 * 24 * time.Hour).Unix(), Stage: billing.StageReadOnly,
	}}
	require.NoError(t, b.svc.HandleDunningEmail(ctx, tx, late))
	require.Len(t, mails.subjects(), 4)
}

// deliverInvoice receives an invoice event of subscription through the
// intake and waits until the worker has processed it.
func deliverInvoice(t *testing.T, b *bundle, id, typ, subscription string, created time.Time) {
	t.Helper()
	body, sig := signed(t, id, typ, created, map[string]any{"id": "in_" + id, "subscription": subscription}, time.Now())
	ev, err := b.svc.Verify(body, sig, time.Now())
	require.NoError(t, err)
	_, err = b.svc.Store(t.Context(), ev)
	require.NoError(t, err)
	waitProcessed(t, b, id)
}

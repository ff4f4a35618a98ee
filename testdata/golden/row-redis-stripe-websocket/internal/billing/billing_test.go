package billing_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/acme/shop-api/internal/billing"
	"github.com/acme/shop-api/internal/domain"
	"github.com/acme/shop-api/internal/jobs"
	"github.com/acme/shop-api/internal/postgres"
	"github.com/acme/shop-api/internal/postgres/db"
	"github.com/acme/shop-api/internal/testsvc"
)

const webhookSecret = testsvc.TestWebhookSecret

// bundle is a billing service on a fresh control plane, the live broker
// and stripe-mock, with one tenant.
type bundle struct {
	svc    *billing.Service
	jobs   *jobs.Client
	pool   *pgxpool.Pool
	tenant domain.Tenant
	// keys records the Idempotency-Key of every call to Stripe, by path.
	keys *recorder
}

func setup(t *testing.T) *bundle {
	t.Helper()
	ctx := t.Context()
	dbURL := testsvc.NewDatabase(t)
	pool, err := postgres.Open(ctx, dbURL, "test")
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	m, err := postgres.NewMigrator(pool)
	require.NoError(t, err)
	_, err = m.Up(ctx)
	require.NoError(t, err)
	require.NoError(t, m.Close())
	require.NoError(t, jobs.MigrateQueue(ctx, pool, io.Discard))
	row, err := db.New(pool).InsertTenant(ctx, db.InsertTenantParams{Slug: "acme", Name: "Acme"})
	require.NoError(t, err)

	rec := &recorder{next: http.DefaultTransport, keys: map[string][]string{}}
	svc, client := testsvc.NewBilling(t, dbURL, &http.Client{Transport: rec, Timeout: 10 * time.Second})
	return &bundle{
		svc: svc, jobs: client, pool: pool, keys: rec,
		tenant: domain.Tenant{ID: row.ID.String(), Slug: row.Slug, Name: row.Name},
	}
}

// recorder is an http.RoundTripper that notes the Idempotency-Key of each
// request and passes it on to stripe-mock.
type recorder struct {
	next   http.RoundTripper
	mu     sync.Mutex
	keys   map[string][]string
	bodies map[string][]url.Values
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var form url.Values
	if req.Body != nil {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		form, _ = url.ParseQuery(string(body))
	}
	r.mu.Lock()
	at := req.Method + " " + req.URL.Path
	r.keys[at] = append(r.keys[at], req.Header.Get("Idempotency-Key"))
	if r.bodies == nil {
		r.bodies = map[string][]url.Values{}
	}
	r.bodies[at] = append(r.bodies[at], form)
	r.mu.Unlock()
	return r.next.RoundTrip(req)
}

// forms returns the form bodies of the calls to path, in order.
func (r *recorder) forms(path string) []url.Values {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]url.Values(nil), r.bodies[path]...)
}

func (r *recorder) get(path string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.keys[path]...)
}

// signed returns a webhook body for an event and its signature header.
func signed(t *testing.T, id, typ string, created time.Time, object any, at time.Time) ([]byte, string) {
	t.Helper()
	obj, err := json.Marshal(object)
	require.NoError(t, err)
	payload, err := json.Marshal(map[string]any{
		"id": id, "object": "event", "type": typ, "created": created.Unix(),
		"api_version": stripe.APIVersion, "data": map[string]any{"object": json.RawMessage(obj)},
	})
	require.NoError(t, err)
	sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: webhookSecret, Timestamp: at})
	return sp.Payload, sp.Header
}

func TestParsePlansNamesTheLine(t *testing.T) {
	t.Parallel()
	_, err := billing.ParsePlans("plans.yaml", []byte(`default: free
plans:
  - id: free
  - id: pro
    prices: [price_a]
  - id: Bad Id
    prices: [price_a]
`))
	require.Error(t, err)
	require.Contains(t, err.Error(), "plans.yaml:6: plan id \"Bad Id\"")
	require.Contains(t, err.Error(), "plans.yaml:6: price \"price_a\" already buys plan \"pro\"")

	_, err = billing.ParsePlans("plans.yaml", []byte("default: pro\nplans:\n  - id: pro\n    prices: [p]\n"))
	require.ErrorContains(t, err, "plans.yaml:1: default plan \"pro\" must not be sold")

	_, err = billing.ParsePlans("plans.yaml", []byte("default: free\nplanz: []\n"))
	require.ErrorContains(t, err, "line 2")

	plans, err := billing.LoadPlans("")
	require.NoError(t, err)
	require.Equal(t, "free", plans.Default.ID)
	pro, ok := plans.ForPrice("price_pro_monthly")
	require.True(t, ok)
	require.True(t, pro.Has("export"))
}

func TestVerifyRefusesWhatStripeDidNotSignNow(t *testing.T) {
	t.Parallel()
	plans, err := billing.LoadPlans("")
	require.NoError(t, err)
	svc := billing.New(billing.Config{Plans: plans, WebhookSecret: webhookSecret, APIBase: "http://127.0.0.1:1"})
	now := time.Now()
	body, header := signed(t, "evt_1", "invoice.paid", now, map[string]any{"id": "in_1"}, now)

	ev, err := svc.Verify(body, header, now)
	require.NoError(t, err)
	require.Equal(t, "evt_1", ev.ID)

	for name, c := range map[string]struct {
		body   []byte
		header string
	}{
		"bad signature": {body, strings.Replace(header, "v1=", "v1=00", 1)},
		"tampered body": {[]byte(strings.Replace(string(body), "in_1", "in_2", 1)), header},
		"no header":     {body, ""},
		"stale timestamp": func() struct {
			body   []byte
			header string
		} {
			b, h := signed(t, "evt_1", "invoice.paid", now, map[string]any{}, now.Add(-billing.Tolerance-time.Minute))
			return struct {
				body   []byte
				header string
			}{b, h}
		}(),
		"future timestamp": func() struct {
			body   []byte
			header string
		} {
			b, h := signed(t, "evt_1", "invoice.paid", now, map[string]any{}, now.Add(5*time.Minute))
			return struct {
				body   []byte
				header string
			}{b, h}
		}(),
		"not JSON": func() struct {
			body   []byte
			header string
		} {
			sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: []byte(`{"id":`), Secret: webhookSecret})
			return struct {
				body   []byte
				header string
			}{sp.Payload, sp.Header}
		}(),
		"not an event": func() struct {
			body   []byte
			header string
		} {
			sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: []byte(`{"hello":1}`), Secret: webhookSecret})
			return struct {
				body   []byte
				header string
			}{sp.Payload, sp.Header}
		}(),
	} {
		_, err := svc.Verify(c.body, c.header, now)
		require.ErrorIs(t, err, billing.ErrRejected, name)
	}
}

// TestEventsAppliedOnceAndInOrder stores events through the intake (which
// enqueues their processing) and lets a worker apply them: duplicates are
// stored once, and an older event delivered late changes nothing.
func TestEventsAppliedOnceAndInOrder(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	// The tenant's customer, as checkout would have created it.
	_, err := b.svc.Checkout(ctx, b.tenant, "price_pro_monthly")
	require.NoError(t, err)
	customer := customerOf(t, b)

	now := time.Now()
	sub := func(status string, quantity int) map[string]any {
		return map[string]any{
			"id": "sub_1", "object": "subscription", "customer": customer, "status": status,
			"current_period_start": now.Unix(), "current_period_end": now.Add(30 * 24 * time.Hour).Unix(),
			"items": map[string]any{"data": []any{map[string]any{"quantity": quantity, "price": map[string]any{"id": "price_pro_monthly"}}}},
		}
	}
	newer, newerSig := signed(t, "evt_new", "customer.subscription.updated", now, sub("active", 5), now)
	older, olderSig := signed(t, "evt_old", "customer.subscription.created", now.Add(-time.Minute), sub("incomplete", 1), now)

	// The newer event three times at once: stored once.
	var wg sync.WaitGroup
	var mu sync.Mutex
	storedCount := 0
	for range 3 {
		wg.Go(func() {
			ev, verr := b.svc.Verify(newer, newerSig, time.Now())
			if verr != nil {
				t.Error(verr)
				return
			}
			stored, serr := b.svc.Store(ctx, ev)
			if serr != nil {
				t.Error(serr)
				return
			}
			if stored {
				mu.Lock()
				storedCount++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.Equal(t, 1, storedCount)

	runWorker(t, b)
	waitProcessed(t, b, "evt_new")
	ev, err := b.svc.Verify(older, olderSig, time.Now())
	require.NoError(t, err)
	stored, err := b.svc.Store(ctx, ev)
	require.NoError(t, err)
	require.True(t, stored)
	waitProcessed(t, b, "evt_old")

	got, err := b.svc.Subscription(ctx, b.tenant.ID)
	require.NoError(t, err)
	require.Equal(t, "active", got.Status, "the older event must not overwrite the newer state")
	require.Equal(t, int64(5), got.Seats)
	require.Equal(t, "pro", got.Plan.ID)
	entitled, err := b.svc.Entitled(ctx, b.tenant.ID, "export")
	require.NoError(t, err)
	require.True(t, entitled)

	// A failed payment, then the customer deleted: back on the free plan.
	failed, failedSig := signed(t, "evt_fail", "invoice.payment_failed", now.Add(time.Second), map[string]any{"id": "in_1", "subscription": "sub_1", "customer": customer}, time.Now())
	ev, err = b.svc.Verify(failed, failedSig, time.Now())
	require.NoError(t, err)
	_, err = b.svc.Store(ctx, ev)
	require.NoError(t, err)
	waitProcessed(t, b, "evt_fail")
	got, err = b.svc.Subscription(ctx, b.tenant.ID)
	require.NoError(t, err)
	require.Equal(t, "past_due", got.Status)

	deleted, deletedSig := signed(t, "evt_del", "customer.deleted", now.Add(2*time.Second), map[string]any{"id": customer, "object": "customer"}, time.Now())
	ev, err = b.svc.Verify(deleted, deletedSig, time.Now())
	require.NoError(t, err)
	_, err = b.svc.Store(ctx, ev)
	require.NoError(t, err)
	waitProcessed(t, b, "evt_del")
	got, err = b.svc.Subscription(ctx, b.tenant.ID)
	require.NoError(t, err)
	require.Equal(t, "none", got.Status)
	require.Equal(t, "free", got.Plan.ID)
}

// TestStripeCallsCarryDeterministicKeys checks the Idempotency-Key each
// call sends to stripe-mock: a retried customer creation sends the same
// key, so Stripe creates one customer.
func TestStripeCallsCarryDeterministicKeys(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	link, err := b.svc.Checkout(ctx, b.tenant, "price_pro_monthly")
	require.NoError(t, err)
	require.NotEmpty(t, link)
	// The customer is stored: a second checkout creates none.
	_, err = b.svc.Checkout(ctx, b.tenant, "price_pro_monthly")
	require.NoError(t, err)
	require.Len(t, b.keys.get("POST /v1/customers"), 1)
	sessions := b.keys.get("POST /v1/checkout/sessions")
	require.Len(t, sessions, 2)
	require.Equal(t, sessions[0], sessions[1], "a repeated checkout within the hour reuses its key")

	// A retry after the customer was created at Stripe but not stored
	// here (a crash in between) sends the same key.
	_, err = b.pool.Exec(ctx, `DELETE FROM billing_customers`)
	require.NoError(t, err)
	_, err = b.svc.Portal(ctx, b.tenant)
	require.NoError(t, err)
	customers := b.keys.get("POST /v1/customers")
	require.Len(t, customers, 2)
	require.Equal(t, customers[0], customers[1])
	require.Contains(t, customers[0], b.tenant.ID)
	require.NotEmpty(t, b.keys.get("POST /v1/billing_portal/sessions")[0])

	_, err = b.svc.Checkout(ctx, b.tenant, "price_nobody_sells")
	require.Equal(t, domain.EINVALID, domain.ErrorCode(err))
}

// TestCheckoutStartsThePlansTrialOnce checks the trial a checkout asks
// Stripe for: the plan's trial_days on a tenant's first subscription, none
// once the tenant has had one, none for a plan without a trial.
func TestCheckoutStartsThePlansTrialOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	pro, ok := b.svc.Plans().ForPrice("price_pro_monthly")
	require.True(t, ok)
	require.Equal(t, int64(14), pro.TrialDays, "the built-in plans file gives pro a 14-day trial")

	_, err := b.svc.Checkout(ctx, b.tenant, "price_pro_monthly")
	require.NoError(t, err)
	forms := b.keys.forms("POST /v1/checkout/sessions")
	require.Len(t, forms, 1)
	require.Equal(t, "14", forms[0].Get("subscription_data[trial_period_days]"))
	require.Equal(t, "price_pro_monthly", forms[0].Get("line_items[0][price]"))

	// A tenant that has had a subscription (here a cancelled one) gets no
	// second trial.
	_, err = b.pool.Exec(ctx, `
		INSERT INTO billing_subscriptions (tenant_id, stripe_subscription_id, stripe_customer_id, price_id, status, event_created)
		VALUES ($1, 'sub_old', $2, 'price_pro_monthly', 'canceled', now())`, b.tenant.ID, customerOf(t, b))
	require.NoError(t, err)
	_, err = b.svc.Checkout(ctx, b.tenant, "price_pro_yearly")
	require.NoError(t, err)
	forms = b.keys.forms("POST /v1/checkout/sessions")
	require.Len(t, forms, 2)
	require.False(t, forms[1].Has("subscription_data[trial_period_days]"), "no second trial: %v", forms[1])

	_, err = billing.ParsePlans("plans.yaml", []byte("default: free\nplans:\n  - id: free\n    trial_days: 7\n"))
	require.ErrorContains(t, err, "plans.yaml:3: plan \"free\": trial_days needs prices")
	_, err = billing.ParsePlans("plans.yaml", []byte("default: free\nplans:\n  - id: free\n  - id: pro\n    prices: [p]\n    trial_days: 731\n"))
	require.ErrorContains(t, err, "plans.yaml:4: plan \"pro\": trial_days 731: want 0 (no trial) to 730")
}

func customerOf(t *testing.T, b *bundle) string {
	t.Helper()
	var id string
	require.NoError(t, b.pool.QueryRow(t.Context(), `SELECT stripe_customer_id FROM billing_customers WHERE tenant_id = $1`, b.tenant.ID).Scan(&id))
	return id
}

// runWorker works the default queue with the billing handler until the
// test ends.
func runWorker(t *testing.T, b *bundle) {
	t.Helper()
	reg := jobs.NewRegistry()
	jobs.Handle(reg, b.svc.HandleEvent)
	jobs.Handle(reg, b.svc.HandleReportUsage)
	jobs.Handle(reg, b.svc.HandleRemoveCustomers)
	jobs.Handle(reg, b.svc.HandleSyncSeats)
	jobs.Handle(reg, b.svc.HandleDunningEmail)
	w, err := jobs.NewWorker(b.jobs, jobs.WorkerConfig{Registry: reg, Queues: map[string]int{jobs.QueueDefault: 2}, ShutdownTimeout: 5 * time.Second})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("worker: %v", err)
		}
	})
}

// waitProcessed waits until the worker has applied event id.
func waitProcessed(t *testing.T, b *bundle, id string) {
	t.Helper()
	require.Eventually(t, func() bool {
		var processed bool
		err := b.pool.QueryRow(t.Context(), `SELECT processed_at IS NOT NULL FROM billing_events WHERE id = $1`, id).Scan(&processed)
		return err == nil && processed
	}, 30*time.Second, 50*time.Millisecond, "event %s not processed", id)
}

// A subscription's life through its events: trialing, active, a failed
// payment (past_due; read-only once the grace period is over), then a paid
// invoice restores it.
func TestTrialToReadOnlyAndRestored(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, err := b.svc.Checkout(t.Context(), b.tenant, "price_pro_monthly")
	require.NoError(t, err)
	customer := customerOf(t, b)
	runWorker(t, b)

	now := time.Now()
	deliver := func(id, typ string, created time.Time, object map[string]any) billing.Subscription {
		t.Helper()
		body, sig := signed(t, id, typ, created, object, time.Now())
		ev, verr := b.svc.Verify(body, sig, time.Now())
		require.NoError(t, verr)
		_, err := b.svc.Store(t.Context(), ev)
		require.NoError(t, err)
		waitProcessed(t, b, id)
		got, err := b.svc.Subscription(t.Context(), b.tenant.ID)
		require.NoError(t, err)
		return got
	}
	sub := func(status string) map[string]any {
		return map[string]any{
			"id": "sub_1", "object": "subscription", "customer": customer, "status": status,
			"trial_end": now.Add(-9 * 24 * time.Hour).Unix(),
			"items":     map[string]any{"data": []any{map[string]any{"quantity": 1, "price": map[string]any{"id": "price_pro_monthly"}}}},
		}
	}
	invoice := map[string]any{"id": "in_1", "object": "invoice", "subscription": "sub_1", "customer": customer}
	day := 24 * time.Hour

	got := deliver("evt_trial", "customer.subscription.created", now.Add(-20*day), sub("trialing"))
	require.Equal(t, "trialing", got.Status)
	require.Equal(t, "pro", got.Plan.ID, "a trial has the plan's entitlements")
	require.NotNil(t, got.TrialEnd)

	got = deliver("evt_active", "customer.subscription.updated", now.Add(-9*day), sub("active"))
	require.Equal(t, "active", got.Status)
	require.False(t, got.ReadOnlyAt(now))

	failedAt := now.Add(-8 * day).Truncate(time.Second)
	got = deliver("evt_failed", "invoice.payment_failed", failedAt, invoice)
	require.Equal(t, "past_due", got.Status)
	require.Equal(t, "pro", got.Plan.ID, "past_due keeps the plan during dunning")
	require.NotNil(t, got.PaymentFailedAt)
	require.True(t, failedAt.Equal(*got.PaymentFailedAt), "%v", got.PaymentFailedAt)
	require.True(t, failedAt.Add(7*day).Equal(*got.ReadOnlyFrom), "read-only after the 7-day grace period")
	require.False(t, got.ReadOnlyAt(failedAt.Add(7*day-time.Second)), "within the grace period the tenant writes")
	require.True(t, got.ReadOnlyAt(now), "after the grace period the tenant is read-only")

	// A second failure does not restart the grace period.
	got = deliver("evt_failed_again", "invoice.payment_failed", now.Add(-2*day), invoice)
	require.True(t, failedAt.Equal(*got.PaymentFailedAt))

	got = deliver("evt_paid", "invoice.paid", now.Add(-time.Hour), invoice)
	require.Equal(t, "active", got.Status)
	require.Nil(t, got.PaymentFailedAt)
	require.False(t, got.ReadOnlyAt(now), "a paid invoice restores the tenant")

	// Each change is in the tenant's control-plane audit chain.
	var audited int
	require.NoError(t, b.pool.QueryRow(t.Context(), `
		SELECT count(*) FROM control_audit_entries
		WHERE tenant_id = $1 AND action = 'billing.subscription.update' AND target_id = 'sub_1'`, b.tenant.ID).Scan(&audited))
	require.Equal(t, 5, audited, "trial, active, two failures, paid")

	// The failure delivered again late changes nothing.
	got = deliver("evt_failed_late", "invoice.payment_failed", now.Add(-3*day), invoice)
	require.Equal(t, "active", got.Status)
	require.False(t, got.ReadOnlyAt(now))
	require.NoError(t, b.pool.QueryRow(t.Context(), `
		SELECT count(*) FROM control_audit_entries WHERE tenant_id = $1 AND action = 'billing.subscription.update'`, b.tenant.ID).Scan(&audited))
	require.Equal(t, 5, audited, "an event that changes nothing is not audited")
}

package billing_test

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/acme/shop-api/internal/billing"
	"github.com/acme/shop-api/internal/domain"
	"github.com/acme/shop-api/internal/postgres/db"
)

// loseFirstReport passes every call on to stripe-mock, but loses the
// response to the first meter event, as a crash or a dropped connection
// after Stripe took the event would; it notes each meter event's form.
type loseFirstReport struct {
	next   http.RoundTripper
	mu     sync.Mutex
	lost   bool
	events []url.Values
}

func (l *loseFirstReport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Path != "/v1/billing/meter_events" {
		return l.next.RoundTrip(req)
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, err
	}
	req.Body = io.NopCloser(strings.NewReader(string(body)))
	resp, err := l.next.RoundTrip(req)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, form)
	if err == nil && !l.lost {
		l.lost = true
		_ = resp.Body.Close()
		return nil, errors.New("connection reset after Stripe took the event")
	}
	return resp, err
}

// TestUsageReportedOncePerPeriod records usage and reports it: a report
// whose response was lost is retried with the same identifier and key (so
// Stripe counts it once), the database settles the hour once, and later
// runs send nothing more.
func TestUsageReportedOncePerPeriod(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	lose := &loseFirstReport{next: b.keys.next}
	b.keys.next = lose

	// A tenant on the pro plan (which meters api_calls), and one on the
	// free plan without a Stripe customer.
	_, err := b.svc.Checkout(ctx, b.tenant, "price_pro_monthly")
	require.NoError(t, err)
	customer := customerOf(t, b)
	_, err = b.pool.Exec(ctx, `
		INSERT INTO billing_subscriptions (tenant_id, stripe_subscription_id, stripe_customer_id, price_id, status, event_created)
		VALUES ($1, 'sub_1', $2, 'price_pro_monthly', 'active', now())`, b.tenant.ID, customer)
	require.NoError(t, err)
	free, err := db.New(b.pool).InsertTenant(ctx, db.InsertTenantParams{Slug: "globex", Name: "Globex"})
	require.NoError(t, err)

	require.NoError(t, b.svc.RecordUsage(ctx, b.tenant.ID, "api_calls", 3))
	require.NoError(t, b.svc.RecordUsage(ctx, b.tenant.ID, "api_calls", 4))
	require.NoError(t, b.svc.RecordUsage(ctx, free.ID.String(), "api_calls", 9))
	require.Equal(t, domain.EINVALID, domain.ErrorCode(b.svc.RecordUsage(ctx, b.tenant.ID, "page_views", 1)))
	require.Equal(t, domain.EINVALID, domain.ErrorCode(b.svc.RecordUsage(ctx, b.tenant.ID, "api_calls", 0)))

	// The hour is not over: nothing is reported yet.
	n, err := b.svc.ReportUsage(ctx, time.Now())
	require.NoError(t, err)
	require.Zero(t, n)
	require.Empty(t, lose.events)

	later := time.Now().Add(billing.UsagePeriod)
	before, err := b.svc.ReportUsage(ctx, later)
	require.Error(t, err, "the lost response fails the first attempt")
	require.Equal(t, 0, settled(t, b, "reported"), "a failed attempt settles nothing")

	n, err = b.svc.ReportUsage(ctx, later)
	require.NoError(t, err)
	require.Equal(t, 2, before+n, "each tenant's hour is settled once")
	n, err = b.svc.ReportUsage(ctx, later.Add(billing.UsagePeriod))
	require.NoError(t, err)
	require.Zero(t, n, "a settled hour is never reported again")

	require.Len(t, lose.events, 2, "the retry, and nothing else, reached Stripe")
	first, retry := lose.events[0], lose.events[1]
	require.Equal(t, first, retry, "the retry is the same event")
	period := time.Now().UTC().Truncate(billing.UsagePeriod)
	require.Equal(t, billing.UsageKey(b.tenant.ID, "api_calls", period), first.Get("identifier"))
	require.Equal(t, "7", first.Get("payload[value]"))
	require.Equal(t, customer, first.Get("payload[stripe_customer_id]"))
	require.Equal(t, "api_calls", first.Get("event_name"))
	keys := b.keys.get("POST /v1/billing/meter_events")
	require.Len(t, keys, 2)
	require.Equal(t, keys[0], keys[1], "the retry reuses the idempotency key")
	require.Equal(t, first.Get("identifier"), keys[0])

	require.Equal(t, 1, settled(t, b, "reported"))
	require.Equal(t, 1, settled(t, b, "unbilled"), "the free tenant's usage is settled, not billed")
	var quantity int64
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT quantity FROM billing_usage WHERE tenant_id = $1 AND outcome = 'reported'`, b.tenant.ID).Scan(&quantity))
	require.Equal(t, int64(7), quantity)
}

// TestUsageReportJob runs the periodic job on a worker: it reports the
// hour that is over, once, and leaves the current one.
func TestUsageReportJob(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	_, err := b.svc.Checkout(ctx, b.tenant, "price_pro_monthly")
	require.NoError(t, err)
	customer := customerOf(t, b)
	_, err = b.pool.Exec(ctx, `
		INSERT INTO billing_subscriptions (tenant_id, stripe_subscription_id, stripe_customer_id, price_id, status, event_created)
		VALUES ($1, 'sub_1', $2, 'price_pro_monthly', 'active', now())`, b.tenant.ID, customer)
	require.NoError(t, err)
	past := time.Now().UTC().Truncate(billing.UsagePeriod).Add(-billing.UsagePeriod)
	_, err = b.pool.Exec(ctx, `INSERT INTO billing_usage (tenant_id, item, period_start, quantity) VALUES ($1, 'api_calls', $2, 11)`, b.tenant.ID, past)
	require.NoError(t, err)
	require.NoError(t, b.svc.RecordUsage(ctx, b.tenant.ID, "api_calls", 2))

	runWorker(t, b)
	require.NoError(t, pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		_, err := b.jobs.Enqueue(ctx, tx, billing.ReportUsagePeriodic.Job(time.Now()))
		return err
	}))
	require.Eventually(t, func() bool { return settled(t, b, "reported") == 1 }, 30*time.Second, 50*time.Millisecond)
	keys := b.keys.get("POST /v1/billing/meter_events")
	require.Equal(t, []string{billing.UsageKey(b.tenant.ID, "api_calls", past)}, keys)
	var unreported int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM billing_usage WHERE reported_at IS NULL`).Scan(&unreported))
	require.Equal(t, 1, unreported, "the current hour waits until it is over")
}

// settled counts the usage rows settled with outcome.
func settled(t *testing.T, b *bundle, outcome string) int {
	t.Helper()
	var n int
	require.NoError(t, b.pool.QueryRow(t.Context(), `SELECT count(*) FROM billing_usage WHERE outcome = $1 AND reported_at IS NOT NULL`, outcome).Scan(&n))
	return n
}

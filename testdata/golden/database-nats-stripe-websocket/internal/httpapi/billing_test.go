package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"ledger.internal/svc/internal/domain"
	"ledger.internal/svc/internal/httpapi"
	"ledger.internal/svc/internal/jobs"
	"ledger.internal/svc/internal/testsvc"
)

// migrateQueue migrates the job queue, which the webhook intake enqueues on.
func migrateQueue(ctx context.Context, owner *pgxpool.Pool) error {
	return jobs.MigrateQueue(ctx, owner, io.Discard)
}

// withBilling gives the API billing on the control plane at databaseURL.
func withBilling(tb testing.TB, databaseURL string) func(*httpapi.Deps) {
	tb.Helper()
	svc, _ := testsvc.NewBilling(tb, databaseURL, nil)
	return func(d *httpapi.Deps) { d.Billing = svc }
}

// signedEvent is a webhook body as Stripe signs it; callAs sends its
// signature as Stripe-Signature.
type signedEvent struct {
	raw       json.RawMessage
	signature string
}

func (s signedEvent) MarshalJSON() ([]byte, error) { return s.raw, nil }

// stripeEvent returns an invoice.paid event with id, signed now.
func stripeEvent(t *testing.T, id string) signedEvent {
	t.Helper()
	return signEvent(t, id, time.Now())
}

func signEvent(t *testing.T, id string, at time.Time) signedEvent {
	t.Helper()
	payload, err := json.Marshal(map[string]any{
		"id": id, "object": "event", "type": "invoice.paid", "created": time.Now().Unix(), "api_version": stripe.APIVersion,
		"data": map[string]any{"object": map[string]any{"id": "in_1", "object": "invoice", "subscription": "sub_nobody"}},
	})
	require.NoError(t, err)
	sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: testsvc.TestWebhookSecret, Timestamp: at})
	return signedEvent{raw: sp.Payload, signature: sp.Header}
}

// countEvents returns how many webhook events the control plane holds.
func countEvents(t *testing.T, b *apiBundle) int {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), b.dbURL)
	require.NoError(t, err)
	defer func() { _ = conn.Close(context.Background()) }()
	var n int
	require.NoError(t, conn.QueryRow(t.Context(), `SELECT count(*) FROM billing_events`).Scan(&n))
	return n
}

// The webhook intake stores a verified event once and answers 200; what
// Stripe did not sign just now is answered 4xx and nothing is stored.
func TestStripeWebhookIntake(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	ev := stripeEvent(t, "evt_intake")
	for range 3 {
		res := b.callAs(t, "", http.MethodPost, "/v1/webhooks/stripe", "", "", ev)
		require.Equal(t, http.StatusOK, res.status, string(res.body))
	}
	require.Equal(t, 1, countEvents(t, b))

	tampered := signedEvent{raw: json.RawMessage(strings.Replace(string(ev.raw), "in_1", "in_2", 1)), signature: ev.signature}
	unsigned := signedEvent{raw: stripeEvent(t, "evt_unsigned").raw}
	future := signEvent(t, "evt_future", time.Now().Add(10*time.Minute))
	stale := signEvent(t, "evt_stale", time.Now().Add(-time.Hour))
	notJSON := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: []byte(`[1,2]`), Secret: testsvc.TestWebhookSecret})
	malformed := signedEvent{raw: notJSON.Payload, signature: notJSON.Header}
	for name, body := range map[string]signedEvent{"tampered": tampered, "unsigned": unsigned, "future": future, "stale": stale, "malformed": malformed} {
		res := b.callAs(t, "", http.MethodPost, "/v1/webhooks/stripe", "", "", body)
		require.Equal(t, http.StatusBadRequest, res.status, "%s: %s", name, res.body)
		require.Equal(t, "application/problem+json", res.header.Get("Content-Type"), name)
	}
	huge := signEvent(t, "evt_huge", time.Now())
	huge.raw = json.RawMessage(`{"pad":"` + strings.Repeat("x", 300<<10) + `"}`)
	res := b.callAs(t, "", http.MethodPost, "/v1/webhooks/stripe", "", "", huge)
	require.Equal(t, http.StatusRequestEntityTooLarge, res.status)
	require.Equal(t, 1, countEvents(t, b), "nothing refused is stored")
}

// The entitlement matrix: a route behind entitled(feature, requires(p))
// answers every caller as requires(p) does, and a caller who passes that
// but whose tenant's plan lacks the feature gets 403 with the entitlement
// problem type; the plan in force decides.
func TestEntitlementMatrix(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	billingDeps := withBilling(t, b.dbURL)
	deps := httpapi.Deps{Logger: slog.New(slog.DiscardHandler), BaseDomain: baseDomain, Tenants: b.tenants, Identity: b.identity}
	billingDeps(&deps)
	handler, err := httpapi.NewHandlerWithEntitledRoute(deps, "export", domain.ProjectsWrite)
	require.NoError(t, err)
	b.handler = handler
	tenant := b.createTenant(t, "acme")
	viewer := b.join(t, b.token, "acme", "viewer@example.com", domain.RoleViewer)
	outsider := b.signUpAndLogin(t, "outsider@example.com")

	subscribe := func(price, status string) {
		conn, connErr := pgx.Connect(t.Context(), b.dbURL)
		require.NoError(t, connErr)
		defer func() { _ = conn.Close(context.Background()) }()
		_, connErr = conn.Exec(t.Context(), `
			INSERT INTO billing_subscriptions (tenant_id, stripe_subscription_id, stripe_customer_id, price_id, status, event_created)
			VALUES ($1, 'sub_1', 'cus_1', $2, $3, now())
			ON CONFLICT (tenant_id) DO UPDATE SET price_id = EXCLUDED.price_id, status = EXCLUDED.status`, tenant.ID, price, status)
		require.NoError(t, connErr)
	}
	type cell struct {
		plan, caller string
		want         int
		entitlement  bool // refused for the plan, with its problem type
	}
	callers := map[string]string{"owner": b.token, "viewer": viewer, "outsider": outsider, "anonymous": ""}
	for _, c := range []cell{
		{"free", "owner", http.StatusForbidden, true},
		{"free", "viewer", http.StatusForbidden, false},
		{"free", "outsider", http.StatusNotFound, false},
		{"free", "anonymous", http.StatusUnauthorized, false},
		{"pro", "owner", http.StatusOK, false},
		{"pro", "viewer", http.StatusForbidden, false},
		{"pro", "outsider", http.StatusNotFound, false},
		{"pro", "anonymous", http.StatusUnauthorized, false},
		{"pro canceled", "owner", http.StatusForbidden, true},
	} {
		switch c.plan {
		case "pro":
			subscribe("price_pro_monthly", "active")
		case "pro canceled":
			subscribe("price_pro_monthly", "canceled")
		}
		res := b.callAs(t, callers[c.caller], http.MethodGet, "/v1/entitled", "", "acme", nil)
		require.Equal(t, c.want, res.status, "%s plan, %s: %s", c.plan, c.caller, res.body)
		isEntitlement := strings.Contains(string(res.body), httpapi.ProblemEntitlement)
		require.Equal(t, c.entitlement, isEntitlement, "%s plan, %s: %s", c.plan, c.caller, res.body)
		if c.want == http.StatusOK {
			require.Equal(t, "acme", string(res.body))
		}
	}

	_, err = httpapi.NewHandlerWithEntitledRoute(deps, "no-such-feature", domain.ProjectsRead)
	require.ErrorContains(t, err, `entitlement "no-such-feature" is granted by no plan`)
}

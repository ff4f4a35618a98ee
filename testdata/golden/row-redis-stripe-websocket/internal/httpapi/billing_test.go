package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/acme/shop-api/internal/billing"
	"github.com/acme/shop-api/internal/domain"
	"github.com/acme/shop-api/internal/httpapi"
	"github.com/acme/shop-api/internal/jobs"
	"github.com/acme/shop-api/internal/postgres"
	"github.com/acme/shop-api/internal/testsvc"
)

// migrateQueue migrates the job queue, which the webhook intake enqueues on.
func migrateQueue(ctx context.Context, owner *pgxpool.Pool) error {
	return jobs.MigrateQueue(ctx, owner, io.Discard)
}

// withBilling gives the API billing on the control plane at databaseURL,
// with the built-in plans plus a default plan that grants all their
// features with limits no test reaches: the tests that are not about plans
// see every route answer as its permission alone decides. The plan
// matrices use withBuiltInPlans.
func withBilling(tb testing.TB, databaseURL string) func(*httpapi.Deps) {
	tb.Helper()
	svc, _ := testsvc.NewBilling(tb, databaseURL, nil)
	limits := map[string]int64{}
	for _, name := range svc.Plans().LimitNames() {
		limits[name] = 1 << 40
	}
	builtIn := svc.Plans().All()
	plans := make([]any, 0, 1+len(builtIn))
	plans = append(plans, map[string]any{"id": "everything", "name": "Everything", "features": svc.Plans().Features(), "limits": limits})
	for i := range builtIn {
		plans = append(plans, builtIn[i])
	}
	doc, err := json.Marshal(map[string]any{"default": "everything", "plans": plans}) // YAML is a superset of JSON
	require.NoError(tb, err)
	parsed, err := billing.ParsePlans("test plans", doc)
	require.NoError(tb, err)
	return func(d *httpapi.Deps) { d.Billing = svc.WithPlans(parsed) }
}

// withBuiltInPlans gives the API billing with the app's plans file.
func withBuiltInPlans(tb testing.TB, databaseURL string) func(*httpapi.Deps) {
	tb.Helper()
	svc, _ := testsvc.NewBilling(tb, databaseURL, nil)
	return func(d *httpapi.Deps) { d.Billing = svc }
}

// setPlan puts tenantID on a subscription to price in status, or on the
// default plan when price is "".
func setPlan(t *testing.T, databaseURL, tenantID, price, status string) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), databaseURL)
	require.NoError(t, err)
	defer func() { _ = conn.Close(context.Background()) }()
	if price == "" {
		_, err = conn.Exec(t.Context(), `DELETE FROM billing_subscriptions WHERE tenant_id = $1`, tenantID)
		require.NoError(t, err)
		return
	}
	_, err = conn.Exec(t.Context(), `
		INSERT INTO billing_subscriptions (tenant_id, stripe_subscription_id, stripe_customer_id, price_id, status, event_created)
		VALUES ($1, 'sub_1', 'cus_1', $2, $3, now())
		ON CONFLICT (tenant_id) DO UPDATE SET price_id = EXCLUDED.price_id, status = EXCLUDED.status`, tenantID, price, status)
	require.NoError(t, err)
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
	deps := httpapi.Deps{Logger: slog.New(slog.DiscardHandler), BaseDomain: baseDomain, Tenants: b.tenants, Identity: b.identity}
	withBuiltInPlans(t, b.dbURL)(&deps)
	handler, err := httpapi.NewHandlerWithEntitledRoute(deps, "export", domain.ProjectsWrite)
	require.NoError(t, err)
	b.handler = handler
	tenant := b.createTenant(t, "acme")
	viewer := b.join(t, b.token, "acme", "viewer@example.com", domain.RoleViewer)
	outsider := b.signUpAndLogin(t, "outsider@example.com")

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
			setPlan(t, b.dbURL, tenant.ID, "price_pro_monthly", "active")
		case "pro canceled":
			setPlan(t, b.dbURL, tenant.ID, "price_pro_monthly", "canceled")
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

// The plan matrix of the real routes: every route the registry gates on
// the tenant's plan (entitled or limited) × every plan state → the route's
// success, or 403 with the entitlement problem type. The expectations are
// written out here against the built-in plans file, not derived from the
// code under test; a gated route missing here fails the test.
func TestPlanMatrix(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	deps := httpapi.Deps{Logger: slog.New(slog.DiscardHandler), BaseDomain: baseDomain, Tenants: b.tenants, Identity: b.identity}
	withBuiltInPlans(t, b.dbURL)(&deps)
	handler, err := httpapi.NewHandler(deps)
	require.NoError(t, err)
	b.handler = handler
	tenant := b.createTenant(t, "acme")
	// The free plan allows 3 projects: the tenant has them.
	for i := range 3 {
		b.createNamedProject(t, "acme", "p"+strconv.Itoa(i))
	}

	requests := map[string]matrixRequest{
		"create-api-key": {http.MethodPost, "/v1/api-keys", map[string]string{"name": "k", "role": domain.RoleViewer}, http.StatusCreated},
		"create-project": {http.MethodPost, "/v1/projects", map[string]string{"name": "more"}, http.StatusCreated},
	}
	// Plan states: a subscription's price and status; "" is no subscription.
	states := []struct{ name, price, status string }{
		{"free", "", ""},
		{"pro", "price_pro_monthly", "active"},
		{"pro yearly", "price_pro_yearly", "active"},
		{"pro trialing", "price_pro_monthly", "trialing"},
		{"pro past_due", "price_pro_monthly", "past_due"},
		{"pro canceled", "price_pro_monthly", "canceled"},
		{"pro unpaid", "price_pro_monthly", "unpaid"},
		{"unknown price", "price_gone", "active"},
	}
	pro := []string{"pro", "pro yearly", "pro trialing", "pro past_due"}
	allowedOn := map[string][]string{
		"create-api-key": pro, // a feature of pro only
		"create-project": pro, // free's limit of 3 is reached
	}

	routes, err := httpapi.RegisteredRoutes(deps)
	require.NoError(t, err)
	gated := 0
	for _, route := range routes {
		if route.Entitlement == "" && route.Limit == "" {
			continue
		}
		gated++
		req, ok := requests[route.OperationID]
		require.True(t, ok, "the plan matrix has no request for %s: add one", route.OperationID)
		for _, st := range states {
			setPlan(t, b.dbURL, tenant.ID, st.price, st.status)
			res := b.call(t, req.method, req.path, "", "acme", req.body)
			if slices.Contains(allowedOn[route.OperationID], st.name) {
				require.Equal(t, req.status, res.status, "%s on %s: %s", route.OperationID, st.name, res.body)
				continue
			}
			require.Equal(t, http.StatusForbidden, res.status, "%s on %s: %s", route.OperationID, st.name, res.body)
			require.Equal(t, "application/problem+json", res.header.Get("Content-Type"))
			var p struct {
				Type   string `json:"type"`
				Detail string `json:"detail"`
			}
			require.NoError(t, json.Unmarshal(res.body, &p))
			require.Equal(t, httpapi.ProblemEntitlement, p.Type, "%s on %s: %s", route.OperationID, st.name, res.body)
			require.Contains(t, p.Detail, "free", "the refusal names the plan in force")
		}
	}
	require.Len(t, requests, gated, "every request of the plan matrix is for a gated route")
}

// Dunning on the API: once the grace period after a failed payment is
// over, writes answer 402 with the payment-required problem type, reads
// keep working and owners still reach billing; a paid invoice (payment
// failure cleared) restores writes.
func TestReadOnlyWhileUnpaid(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	deps := httpapi.Deps{Logger: slog.New(slog.DiscardHandler), BaseDomain: baseDomain, Tenants: b.tenants, Identity: b.identity}
	withBuiltInPlans(t, b.dbURL)(&deps)
	handler, err := httpapi.NewHandler(deps)
	require.NoError(t, err)
	b.handler = handler
	tenant := b.createTenant(t, "acme")
	setPlan(t, b.dbURL, tenant.ID, "price_pro_monthly", "past_due")
	failed := func(at any) {
		conn, connErr := pgx.Connect(t.Context(), b.dbURL)
		require.NoError(t, connErr)
		defer func() { _ = conn.Close(context.Background()) }()
		_, connErr = conn.Exec(t.Context(), `UPDATE billing_subscriptions SET payment_failed_at = $2 WHERE tenant_id = $1`, tenant.ID, at)
		require.NoError(t, connErr)
	}

	failed(time.Now().Add(-time.Hour))
	require.Equal(t, http.StatusCreated, b.call(t, http.MethodPost, "/v1/projects", "", "acme", map[string]string{"name": "in grace"}).status)

	failed(time.Now().Add(-8 * 24 * time.Hour))
	res := b.call(t, http.MethodPost, "/v1/projects", "", "acme", map[string]string{"name": "unpaid"})
	require.Equal(t, http.StatusPaymentRequired, res.status, string(res.body))
	require.Equal(t, "application/problem+json", res.header.Get("Content-Type"))
	var p struct {
		Type string `json:"type"`
	}
	require.NoError(t, json.Unmarshal(res.body, &p))
	require.Equal(t, httpapi.ProblemPaymentRequired, p.Type)
	require.Equal(t, http.StatusPaymentRequired, b.call(t, http.MethodPost, "/v1/api-keys", "", "acme", map[string]string{"name": "k", "role": domain.RoleViewer}).status)
	require.Equal(t, http.StatusOK, b.call(t, http.MethodGet, "/v1/projects", "", "acme", nil).status, "reads keep working")
	require.Equal(t, http.StatusOK, b.call(t, http.MethodGet, "/v1/billing/subscription", "", "acme", nil).status)
	res = b.call(t, http.MethodPost, "/v1/billing/portal", "", "acme", nil)
	require.Equal(t, http.StatusOK, res.status, "the owner can still reach billing to pay: %s", res.body)

	failed(nil)
	require.Equal(t, http.StatusCreated, b.call(t, http.MethodPost, "/v1/projects", "", "acme", map[string]string{"name": "paid"}).status)
}

// TestSeatLimitOnInviteAndAccept: on the built-in free plan (3 seats) the
// owner may invite two; a third invitation is refused with the seat-limit
// problem. With one seat left and two invitations out, concurrent
// acceptances take exactly the one seat.
func TestSeatLimitOnInviteAndAccept(t *testing.T) {
	t.Parallel()
	cfg := testsvc.NewTenancyConfig(t)
	svc, _ := testsvc.NewBilling(t, cfg.URL, nil)
	b, _ := setupAPIOn(t, cfg, bundleOptions{seats: svc})
	res := b.call(t, http.MethodPost, "/v1/tenants", "", "", map[string]string{"slug": "acme", "name": "Acme"})
	require.Equal(t, http.StatusCreated, res.status, string(res.body))
	tenantID := decode[tenantJSON](t, res).ID

	invitees := []string{"ann@example.com", "bob@example.com"}
	tokens := make([]string, len(invitees))
	for i, email := range invitees {
		tokens[i] = b.signUpAndLogin(t, email)
		b.invite(t, b.token, "acme", email, "member")
	}
	res = b.call(t, http.MethodPost, "/v1/invitations", "", "acme", map[string]string{"email": "cy@example.com", "role": "member"})
	requireProblem(t, res, http.StatusForbidden, "3 seats")
	require.Equal(t, postgres.ProblemSeatLimit, decode[map[string]any](t, res)["type"])

	// A member who joined another way takes the third seat: of the two
	// invitations, one can still be accepted.
	b.signUp(t, "dee@example.com")
	conn, err := pgx.Connect(t.Context(), cfg.URL)
	require.NoError(t, err)
	defer func() { _ = conn.Close(context.Background()) }()
	_, err = conn.Exec(t.Context(), `INSERT INTO memberships (tenant_id, user_id, role) SELECT $1, id, 'member' FROM users WHERE email = 'dee@example.com'`, tenantID)
	require.NoError(t, err)

	invitations := make([]string, len(invitees))
	for i, email := range invitees {
		invitations[i] = b.mail.lastInvitation(t, email)
	}
	statuses := make(chan response, len(invitees))
	for i := range invitees {
		go func() {
			req := httptest.NewRequestWithContext(context.Background(), http.MethodPost, "/v1/invitations/accept",
				strings.NewReader(`{"token":"`+invitations[i]+`"}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+tokens[i])
			rec := httptest.NewRecorder()
			b.handler.ServeHTTP(rec, req)
			statuses <- response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
		}()
	}
	var accepted, refused int
	for range invitees {
		got := <-statuses
		switch got.status {
		case http.StatusOK:
			accepted++
		case http.StatusForbidden:
			refused++
			require.Equal(t, postgres.ProblemSeatLimit, decode[map[string]any](t, got)["type"])
		default:
			t.Fatalf("accept: %d %s", got.status, got.body)
		}
	}
	require.Equal(t, 1, accepted, "one seat left, one acceptance")
	require.Equal(t, 1, refused)
	require.Len(t, b.members(t, b.token, "acme"), 3)
}

// TestPlanLimitHoldsUnderConcurrentCreates: on the free plan (3 projects),
// eight concurrent creations make exactly three projects; the others are
// refused with the entitlement problem.
func TestPlanLimitHoldsUnderConcurrentCreates(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	deps := httpapi.Deps{Logger: slog.New(slog.DiscardHandler), BaseDomain: baseDomain, Tenants: b.tenants, Identity: b.identity}
	withBuiltInPlans(t, b.dbURL)(&deps)
	handler, err := httpapi.NewHandler(deps)
	require.NoError(t, err)
	b.handler = handler
	b.createTenant(t, "acme")

	const attempts = 8
	results := make(chan response, attempts)
	for i := range attempts {
		go func() {
			req := httptest.NewRequestWithContext(context.Background(), http.MethodPost, "/v1/projects",
				strings.NewReader(`{"name":"p`+strconv.Itoa(i)+`"}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+b.token)
			req.Header.Set(httpapi.TenantHeader, "acme")
			rec := httptest.NewRecorder()
			b.handler.ServeHTTP(rec, req)
			results <- response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
		}()
	}
	created := 0
	for range attempts {
		res := <-results
		switch res.status {
		case http.StatusCreated:
			created++
		case http.StatusForbidden:
			require.Equal(t, httpapi.ProblemEntitlement, decode[map[string]any](t, res)["type"], string(res.body))
		default:
			t.Fatalf("create: %d %s", res.status, res.body)
		}
	}
	require.Equal(t, 3, created, "the free plan's 3 projects, however many race for them")
	res := b.call(t, http.MethodGet, "/v1/projects?limit=100", "", "acme", nil)
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	require.Len(t, decode[pageJSON[map[string]any]](t, res).Items, 3)
}

// A plan's rate_limit replaces RATE_LIMIT_TENANT for its tenants: tighter
// on the default plan, none on one ("off"); a plan without one keeps
// RATE_LIMIT_TENANT.
func TestPlanRateLimits(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	svc, _ := testsvc.NewBilling(t, b.dbURL, nil)
	plans, err := billing.ParsePlans("test plans", []byte(`
default: free
plans:
  - {id: free, name: Free, rate_limit: "1/m,3"}
  - {id: pro, name: Pro, prices: [price_pro], rate_limit: "off"}
  - {id: team, name: Team, prices: [price_team], features: [export, api_keys], limits: {projects: 10}}
`))
	require.NoError(t, err)
	deps := httpapi.Deps{
		Logger: slog.New(slog.DiscardHandler), BaseDomain: baseDomain, Tenants: b.tenants, Identity: b.identity,
		Billing: svc.WithPlans(plans), RateLimits: httpapi.RateLimits{Tenant: httpapi.Rate{PerSecond: 0.05, Burst: 5}},
	}
	handler, err := httpapi.NewHandler(deps)
	require.NoError(t, err)
	b.handler = handler
	b.createTenant(t, "acme")
	globex := b.createTenant(t, "globex")
	initech := b.createTenant(t, "initech")
	setPlan(t, b.dbURL, globex.ID, "price_pro", "active")
	setPlan(t, b.dbURL, initech.ID, "price_team", "active")

	// served counts the requests served in a row before the first 429.
	served := func(slug string, most int) int {
		for i := range most {
			res := b.call(t, http.MethodGet, "/v1/projects", "", slug, nil)
			if res.status == http.StatusTooManyRequests {
				requireRateLimited(t, res)
				return i
			}
			require.Equal(t, http.StatusOK, res.status, string(res.body))
		}
		return most
	}
	require.Equal(t, 3, served("acme", 20), "the free plan's burst")
	require.Equal(t, 30, served("globex", 30), "pro has no limit")
	require.Equal(t, 5, served("initech", 20), "team keeps RATE_LIMIT_TENANT")

	_, err = billing.ParsePlans("bad plans", []byte("default: free\nplans:\n  - id: free\n    name: Free\n    rate_limit: fast\n"))
	require.ErrorContains(t, err, `bad plans:3: plan "free": rate_limit must be RATE/s,BURST`)
}

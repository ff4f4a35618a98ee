package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/jackc/pgx/v5"

	"github.com/acme/shop-api/internal/billing"
	"github.com/acme/shop-api/internal/domain"
	"github.com/acme/shop-api/internal/postgres"
)

// Billing is what the API needs of billing (billing.Service).
type Billing interface {
	Plans() *billing.Plans
	Subscription(ctx context.Context, tenantID string) (billing.Subscription, error)
	Checkout(ctx context.Context, t domain.Tenant, price string) (string, error)
	Portal(ctx context.Context, t domain.Tenant) (string, error)
	Verify(payload []byte, header string, now time.Time) (billing.Event, error)
	Store(ctx context.Context, ev billing.Event) (bool, error)
}

// planRateTTL is how long a tenant's plan rate limit is kept: a plan change
// reaches the tenant's limit within it.
const planRateTTL = 30 * time.Second

// planRates caches tenants' plan rate limits.
type planRates struct {
	mu sync.Mutex
	m  map[string]planRate
}

type planRate struct {
	rate  Rate
	set   bool // false: the plan keeps RATE_LIMIT_TENANT
	until time.Time
}

// usePlanRates makes the tenant limit follow each tenant's plan, when a plan
// sets a rate_limit.
func (r *router) usePlanRates() {
	if r.deps.Billing == nil || !slices.ContainsFunc(r.deps.Billing.Plans().All(), func(p billing.Plan) bool { return p.RateLimit != "" }) {
		return
	}
	r.planRates = &planRates{m: map[string]planRate{}}
	r.tenants = newKeyedBuckets(r.deps.RateLimits.Tenant)
}

// planRate returns the rate limit of tenantID's plan, and false when its
// plan sets none (or none of the plans does, or the plan cannot be read
// now: RATE_LIMIT_TENANT holds meanwhile).
func (r *router) planRate(ctx context.Context, tenantID string) (Rate, bool) {
	if r.planRates == nil {
		return Rate{}, false
	}
	now := time.Now()
	c := r.planRates
	c.mu.Lock()
	cached, ok := c.m[tenantID]
	c.mu.Unlock()
	if ok && now.Before(cached.until) {
		return cached.rate, cached.set
	}
	sub, err := r.deps.Billing.Subscription(ctx, tenantID)
	if err != nil {
		return Rate{}, false
	}
	planned, set := sub.Plan.Rate()
	cached = planRate{rate: Rate{PerSecond: planned.PerSecond, Burst: planned.Burst}, set: set, until: now.Add(planRateTTL)}
	c.mu.Lock()
	if len(c.m) >= maxBuckets {
		clear(c.m)
	}
	c.m[tenantID] = cached
	c.mu.Unlock()
	return cached.rate, cached.set
}

// addBillingRoutes registers the billing routes: checkout, portal and the
// subscription for the tenant, and Stripe's webhook intake.
func addBillingRoutes(r *router) {
	deps := r.deps
	r.post("/v1/billing/checkout", requires(domain.BillingManage), handleCheckout(deps.Billing))
	r.post("/v1/billing/portal", requires(domain.BillingManage), handlePortal(deps.Billing))
	r.get("/v1/billing/subscription", requires(domain.BillingRead), handleSubscription(deps.Billing))
	r.mount("POST /v1/webhooks/stripe", stripeSigned(), handleStripeWebhook(deps.Billing))
	documentBilling(r)
}

// entitled(feature, g) guards a tenant's route with g (requires or
// requiresOn) and, after it, with the tenant's plan: a plan without
// feature is answered 403 with the problem type ProblemEntitlement, so a
// client can tell "upgrade your plan" from "ask an admin". A feature no
// plan of the plans file grants stops the server from starting.
func entitled(feature string, g guard) guard {
	tg, ok := g.(tenantGuard)
	if !ok {
		return invalidGuard{fmt.Errorf("entitled(%q) needs requires or requiresOn, not %s", feature, g)}
	}
	return entitlementGuard{tenantGuard: tg, feature: feature}
}

// ProblemEntitlement is the problem type of a route the tenant's plan does
// not include.
const ProblemEntitlement = "/problems/entitlement-required"

type entitlementGuard struct {
	tenantGuard
	feature string
}

func (g entitlementGuard) String() string {
	return g.tenantGuard.String() + " and a plan with " + g.feature
}

func (g entitlementGuard) describe(route *Route, op *huma.Operation) error {
	if err := g.tenantGuard.describe(route, op); err != nil {
		return err
	}
	route.Entitlement = g.feature
	if op != nil {
		op.Responses["403"].Description += ", or the tenant's plan does not include " + g.feature +
			" (problem type " + ProblemEntitlement + ")"
		if op.Extensions == nil {
			op.Extensions = map[string]any{}
		}
		op.Extensions["x-entitlement"] = g.feature
	}
	return nil
}

func (g entitlementGuard) middlewares(r *router) huma.Middlewares {
	return append(g.tenantGuard.middlewares(r), r.entitle(g.feature))
}

// entitle refuses, after the permission, a tenant whose plan lacks feature.
func (r *router) entitle(feature string) func(huma.Context, func(huma.Context)) {
	// Without Deps.Billing (a handler built to list the routes) the route
	// answers 500: fail closed.
	known := r.deps.Billing != nil && slices.Contains(r.deps.Billing.Plans().Features(), feature)
	if r.deps.Billing != nil && !known {
		r.errs = append(r.errs, fmt.Errorf("entitlement %q is granted by no plan of the plans file", feature))
	}
	return func(ctx huma.Context, next func(huma.Context)) {
		t, ok := ctx.Context().Value(tenantKey{}).(domain.Tenant)
		if !ok || !known {
			r.fail(ctx, errors.New("entitle runs after the tenant, with a known feature"))
			return
		}
		sub, err := r.deps.Billing.Subscription(ctx.Context(), t.ID)
		if err != nil {
			r.fail(ctx, err)
			return
		}
		if !sub.Plan.Has(feature) {
			_, w := humago.Unwrap(ctx)
			writeTypedProblem(w, http.StatusForbidden, ProblemEntitlement,
				"The tenant's plan ("+sub.Plan.ID+") does not include "+feature+"; upgrade it with POST /v1/billing/checkout.")
			return
		}
		next(ctx)
	}
}

// limited(limit, g) guards a tenant's route that creates one more of
// something the plans bound (limit names both the plans' limit and the
// tenant table counted): with g, and then, when the tenant's plan sets
// limit, by counting the tenant's rows of that table. A tenant at its limit
// is answered 403 with the problem type ProblemEntitlement. A limit no plan
// sets stops the server from starting.
//
// The count and the handler's insert are separate transactions, so
// concurrent creates can pass the limit by the number racing; the limit is
// a plan's bound, not an invariant.
func limited(limit string, g guard) guard {
	tg, ok := g.(tenantGuard)
	if !ok {
		return invalidGuard{fmt.Errorf("limited(%q) needs requires or requiresOn, not %s", limit, g)}
	}
	return limitGuard{tenantGuard: tg, limit: limit}
}

type limitGuard struct {
	tenantGuard
	limit string
}

func (g limitGuard) String() string {
	return g.tenantGuard.String() + " and a plan whose " + g.limit + " limit is not reached"
}

func (g limitGuard) describe(route *Route, op *huma.Operation) error {
	if err := g.tenantGuard.describe(route, op); err != nil {
		return err
	}
	route.Limit = g.limit
	if op != nil {
		op.Responses["403"].Description += ", or the tenant has as many " + g.limit + " as its plan allows" +
			" (problem type " + ProblemEntitlement + ")"
		if op.Extensions == nil {
			op.Extensions = map[string]any{}
		}
		op.Extensions["x-limit"] = g.limit
	}
	return nil
}

func (g limitGuard) middlewares(r *router) huma.Middlewares {
	return append(g.tenantGuard.middlewares(r), r.withinLimit(g.limit))
}

// withinLimit refuses, after the permission, a tenant whose plan's limit
// is reached.
func (r *router) withinLimit(limit string) func(huma.Context, func(huma.Context)) {
	known := r.deps.Billing != nil && slices.Contains(r.deps.Billing.Plans().LimitNames(), limit)
	if r.deps.Billing != nil && !known {
		r.errs = append(r.errs, fmt.Errorf("limit %q is set by no plan of the plans file", limit))
	}
	table := pgx.Identifier{limit}.Sanitize()
	return func(ctx huma.Context, next func(huma.Context)) {
		t, ok := ctx.Context().Value(tenantKey{}).(domain.Tenant)
		if !ok || !known {
			r.fail(ctx, errors.New("withinLimit runs after the tenant, with a known limit"))
			return
		}
		sub, err := r.deps.Billing.Subscription(ctx.Context(), t.ID)
		if err != nil {
			r.fail(ctx, err)
			return
		}
		most, bounded := sub.Plan.Limits[limit]
		if !bounded {
			next(ctx)
			return
		}
		// Counted in the creating transaction, after the row is written and
		// under a lock on the tenant's limit, so that concurrent creations
		// are counted one after the other and cannot pass it together.
		lockKey := "limit:" + t.ID + ":" + limit
		next(huma.WithContext(ctx, postgres.WithCommitCheck(ctx.Context(), func(ctx context.Context, tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, lockKey); err != nil {
				return fmt.Errorf("lock the tenant's %s limit: %w", limit, err)
			}
			var n int64
			if err := tx.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
				return fmt.Errorf("count the tenant's %s: %w", limit, err)
			}
			if n <= most {
				return nil
			}
			e := domain.Errorf(domain.EFORBIDDEN,
				"The tenant's plan (%s) allows %d %s and it has %d; upgrade it with POST /v1/billing/checkout.", sub.Plan.ID, most, limit, n-1)
			e.Type = ProblemEntitlement
			return e
		})))
	}
}

// ProblemPaymentRequired is the problem type of a write refused because the
// tenant's grace period after a failed payment is over.
const ProblemPaymentRequired = "/problems/payment-required"

// readOnlyUnpaid is, with billing, the last check of every tenant-scoped
// route: once the tenant's grace period after a failed payment is over, a
// write answers 402 with ProblemPaymentRequired until an invoice is paid.
// Reads keep working, and so does what writesWhileUnpaid allows.
func (r *router) readOnlyUnpaid(p domain.Permission) func(huma.Context, func(huma.Context)) {
	return func(ctx huma.Context, next func(huma.Context)) {
		if r.deps.Billing == nil || ctx.Method() == http.MethodGet || ctx.Method() == http.MethodHead || writesWhileUnpaid(p) {
			next(ctx)
			return
		}
		t, ok := ctx.Context().Value(tenantKey{}).(domain.Tenant)
		if !ok {
			r.fail(ctx, errors.New("readOnlyUnpaid runs after the tenant"))
			return
		}
		sub, err := r.deps.Billing.Subscription(ctx.Context(), t.ID)
		if err != nil {
			r.fail(ctx, err)
			return
		}
		if sub.ReadOnlyAt(time.Now()) {
			_, w := humago.Unwrap(ctx)
			writeTypedProblem(w, http.StatusPaymentRequired, ProblemPaymentRequired,
				"The tenant is read-only: its payment failed on "+sub.PaymentFailedAt.UTC().Format(time.DateOnly)+
					" and the grace period is over. Pay with POST /v1/billing/portal.")
			return
		}
		next(ctx)
	}
}

// writesWhileUnpaid reports whether routes needing p write even while the
// tenant is read-only for want of payment: the billing routes, so owners
// and admins can reach checkout and the portal to pay, and deleting the
// tenant, so nobody is held to a tenant they want gone.
func writesWhileUnpaid(p domain.Permission) bool {
	return p == domain.BillingManage || p == domain.BillingRead || p == domain.TenantDelete
}

// typedProblem is an RFC 9457 problem with a type of its own.
type typedProblem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

// writeTypedProblem answers a problem+json of its own type.
func writeTypedProblem(w http.ResponseWriter, status int, typ, detail string) {
	body, err := json.Marshal(typedProblem{Type: typ, Title: http.StatusText(status), Status: status, Detail: detail})
	if err != nil {
		http.Error(w, http.StatusText(status), status)
		return
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// invalidGuard stands for a guard declaration that cannot work: the route
// is not registered and the server does not start.
type invalidGuard struct{ err error }

func (g invalidGuard) String() string                         { return "invalid guard" }
func (g invalidGuard) describe(*Route, *huma.Operation) error { return g.err }
func (g invalidGuard) middlewares(*router) huma.Middlewares   { return nil }

// stripeSigned() admits a request whose body Stripe signed with the
// webhook secret (Stripe-Signature), at a time within the tolerance. It
// reads the body (at most billing.MaxEventBytes) and hands the verified
// event to the handler; anything else is answered 400 (413 when too large)
// before the handler runs, so nothing is stored.
type stripeGuard struct{}

func stripeSigned() guard { return stripeGuard{} }

func (stripeGuard) String() string { return "a request signed by Stripe" }

func (stripeGuard) describe(route *Route, op *huma.Operation) error {
	route.Auth = "stripe"
	if op != nil {
		op.Security = []map[string][]string{}
		addResponse(op, "400", "The Stripe-Signature does not verify, its timestamp is stale or in the future, or the body is no event")
	}
	return nil
}

type stripeEventKey struct{}

func (stripeGuard) middlewares(r *router) huma.Middlewares {
	return huma.Middlewares{func(ctx huma.Context, next func(huma.Context)) {
		req, w := humago.Unwrap(ctx)
		if r.deps.Billing == nil {
			r.fail(ctx, errors.New("stripeSigned needs Deps.Billing"))
			return
		}
		payload, err := io.ReadAll(http.MaxBytesReader(w, req.Body, billing.MaxEventBytes))
		if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
			writeProblem(w, http.StatusRequestEntityTooLarge, "The event is larger than this endpoint accepts.")
			return
		}
		if err != nil {
			writeProblem(w, http.StatusBadRequest, "The request body could not be read.")
			return
		}
		ev, err := r.deps.Billing.Verify(payload, req.Header.Get("Stripe-Signature"), time.Now())
		if err != nil {
			writeProblem(w, http.StatusBadRequest, "The request is not a verified Stripe event.")
			return
		}
		next(huma.WithContext(ctx, context.WithValue(ctx.Context(), stripeEventKey{}, ev)))
	}}
}

// handleStripeWebhook stores the verified event once and enqueues its
// processing, then answers 200 without calling Stripe.
func handleStripeWebhook(b Billing) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		ev, ok := req.Context().Value(stripeEventKey{}).(billing.Event)
		if !ok {
			writeProblem(w, http.StatusInternalServerError, "An internal error occurred.")
			return
		}
		if _, err := b.Store(req.Context(), ev); err != nil {
			writeProblem(w, http.StatusServiceUnavailable, "The event could not be stored; Stripe will send it again.")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"received":true}`))
	})
}

type checkoutInput struct {
	Body struct {
		Price string `json:"price" minLength:"1" maxLength:"255" doc:"Stripe price id of a plan (GET /v1/billing/subscription lists the plans' prices)"`
	}
}

type urlOutput struct {
	Body struct {
		URL string `json:"url" doc:"Where to send the customer"`
	}
}

// handleCheckout starts a Stripe Checkout Session for the tenant.
func handleCheckout(b Billing) endpoint {
	return newEndpoint(huma.Operation{
		OperationID: "billing-checkout",
		Summary:     "Start a Stripe Checkout Session to subscribe to a price",
		Tags:        []string{"Billing"},
	}, tenantScoped(func(ctx context.Context, t domain.Tenant, in *checkoutInput) (*urlOutput, error) {
		url, err := b.Checkout(ctx, t, in.Body.Price)
		if err != nil {
			return nil, err
		}
		out := &urlOutput{}
		out.Body.URL = url
		return out, nil
	}))
}

// portalInput is the input of the billing operations that take none:
// the tenant comes from the request (see requireTenant).
type portalInput struct{}

// handlePortal opens the Stripe customer portal for the tenant.
func handlePortal(b Billing) endpoint {
	return newEndpoint(huma.Operation{
		OperationID: "billing-portal",
		Summary:     "Open the Stripe customer portal",
		Tags:        []string{"Billing"},
	}, tenantScoped(func(ctx context.Context, t domain.Tenant, _ *portalInput) (*urlOutput, error) {
		url, err := b.Portal(ctx, t)
		if err != nil {
			return nil, err
		}
		out := &urlOutput{}
		out.Body.URL = url
		return out, nil
	}))
}

type subscriptionOutput struct {
	Body billing.Subscription
}

// handleSubscription returns the tenant's subscription from the database.
func handleSubscription(b Billing) endpoint {
	return newEndpoint(huma.Operation{
		OperationID: "billing-subscription",
		Summary:     "The tenant's plan, subscription status and entitlements in force",
		Tags:        []string{"Billing"},
	}, tenantScoped(func(ctx context.Context, t domain.Tenant, _ *portalInput) (*subscriptionOutput, error) {
		sub, err := b.Subscription(ctx, t.ID)
		if err != nil {
			return nil, err
		}
		return &subscriptionOutput{Body: sub}, nil
	}))
}

package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"example.com/acme/internal/billing"
	"example.com/acme/internal/domain"
)

// Billing is what the API needs of billing (billing.Service).
type Billing interface {
	Plans() *billing.Plans
	Subscription(ctx context.Context, tenantID string) (billing.Subscription, error)
	Entitled(ctx context.Context, tenantID, feature string) (bool, error)
	Checkout(ctx context.Context, t domain.Tenant, price string) (string, error)
	Portal(ctx context.Context, t domain.Tenant) (string, error)
	Verify(payload []byte, header string, now time.Time) (billing.Event, error)
	Store(ctx context.Context, ev billing.Event) (bool, error)
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
	known := r.deps.Billing != nil && slices.Contains(r.deps.Billing.Plans().Features(), feature)
	if !known {
		r.errs = append(r.errs, fmt.Errorf("entitlement %q is granted by no plan of the plans file", feature))
	}
	return func(ctx huma.Context, next func(huma.Context)) {
		t, ok := ctx.Context().Value(tenantKey{}).(domain.Tenant)
		if !ok || !known {
			r.fail(ctx, errors.New("entitle runs after the tenant, with a known feature"))
			return
		}
		has, err := r.deps.Billing.Entitled(ctx.Context(), t.ID, feature)
		if err != nil {
			r.fail(ctx, err)
			return
		}
		if !has {
			_, w := humago.Unwrap(ctx)
			writeTypedProblem(w, http.StatusForbidden, ProblemEntitlement,
				"The tenant's plan does not include "+feature+"; upgrade it with POST /v1/billing/checkout.")
			return
		}
		next(ctx)
	}
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
	tenantHeader
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

type portalInput struct {
	tenantHeader
}

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

// Package httpapi is the HTTP adapter: a typed API (huma) over the standard
// library's ServeMux that publishes an OpenAPI 3.1 document, answers errors as
// RFC 9457 problem+json, and wraps every request in request-id, logging,
// metrics and panic-recovery middleware.
package httpapi

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/prometheus/client_golang/prometheus"
)

// Deps are the handler's dependencies.
type Deps struct {
	// Logger receives one line per request and every error worth a look.
	Logger *slog.Logger
	// Version is the API version published in the OpenAPI document.
	Version string
	// Checks are run by /readyz; each names a dependency the API needs.
	Checks []Check
	// BaseDomain is the domain whose subdomains name tenants (BASE_DOMAIN).
	BaseDomain string
	// Tenants is the tenant registry and the only way to tenant data.
	Tenants Tenants
	// Identity knows who callers are and what they may do.
	Identity Identity
	// Collectors are further metrics /metrics serves, such as the job
	// queue's.
	Collectors []prometheus.Collector
	// TrustedProxies are the proxies whose X-Forwarded-For names the client
	// (TRUSTED_PROXIES); none by default.
	TrustedProxies []netip.Prefix
	// MetricsToken, when set, is the bearer token /metrics requires
	// (METRICS_TOKEN).
	MetricsToken string
}

// NewHandler returns the application's HTTP handler. It fails when an
// operation does not declare who may call it: such a server must not start.
func NewHandler(deps Deps) (http.Handler, error) {
	return newHandler(deps, addRoutes)
}

// newHandler builds the handler with the routes that add registers.
func newHandler(deps Deps, add func(*router, *metrics)) (http.Handler, error) {
	mux := newRouteMux()
	config := huma.DefaultConfig("ledger API", deps.Version)
	config.Info.Description = "The ledger API. Errors are RFC 9457 problem+json documents. " +
		"Tenant-scoped operations take the tenant from the request's subdomain of the base domain " +
		"(acme." + deps.BaseDomain + ") or from the " + TenantHeader + " header. " +
		"Callers authenticate with a bearer token: a user's session token (POST /v1/auth/login) " +
		"or, on tenant-scoped operations, an API key of that tenant. Each operation's x-permission says what it requires."
	config.Components.SecuritySchemes = securitySchemes()
	api := humago.New(mux, config)
	m := newMetrics(deps.Collectors...)

	r := newRouter(api, mux, deps)
	add(r, m)
	if err := r.check(); err != nil {
		return nil, fmt.Errorf("httpapi: %w", err)
	}

	// Outermost first: the request id exists before anything logs, and the
	// panic handler sits inside the logger so a recovered panic is logged
	// and counted as the 500 it became.
	var h http.Handler = mux
	h = recoverPanics(deps.Logger, h)
	h = observe(deps.Logger, m, deps.TrustedProxies, h)
	h = requestID(h)
	return h, nil
}

// NewMetricsHandler returns the handler of a process that serves no API,
// such as the worker: GET /metrics (the process's metrics and collectors;
// behind token when it is not empty) and GET /healthz.
func NewMetricsHandler(token string, collectors ...prometheus.Collector) http.Handler {
	mux := newRouteMux()
	mux.Handle("GET /metrics", requireBearer(token, newMetrics(collectors...).handler()))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	return mux
}

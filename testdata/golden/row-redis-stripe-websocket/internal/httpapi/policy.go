package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/acme/shop-api/internal/domain"
	"github.com/acme/shop-api/internal/logging"
	"github.com/acme/shop-api/internal/postgres"
)

// Every route declares who may call it, on its line in routes.go, with a
// guard:
//
//	anyone()                  no credentials (health, sign-up, login)
//	signedIn()                a user's session token; API keys are refused
//	requires(p)               a member of the request's tenant whose role
//	                          holds p, an API key of that tenant whose does,
//	                          or a superuser's session (owner everywhere)
//	requiresOn(p, "id")       the same, or an object grant of p on the object
//	                          the path parameter id names
//	requiresIn(p, "slug")     requires(p) in the tenant the path parameter
//	                          slug names (/v1/tenants/{slug})
//	....sessionsOnly()        on either of the last two: API keys are refused
//	metricsToken(token)       the operator's bearer token, when it is set
//
// A route registered without a guard is not registered, and NewHandler
// fails: the server refuses to start rather than serve a route nobody
// decided about. Every guard fits every route, API operations
// (router.get, post, ...) and plain handlers (router.mount) alike, so a
// websocket upgrade can be a tenant's and need a permission; routes huma
// serves itself (its OpenAPI documents and docs, declared with
// router.servedByHuma) take anyone(). Any other pattern on the mux stops the
// server as well. Every route, declared or not, refuses credentials in the
// query string. Tenant-scoped routes run, in order:
// authentication (401 for missing or bad credentials, whatever the tenant,
// so anonymous callers learn nothing about which tenants exist), tenant
// resolution (404 for an unknown tenant), membership (404 for a tenant the
// caller is not in, the same answer) and the permission (403).

// guard is a route's declaration of who may call it. It describes itself
// (in the route registry, and in the OpenAPI document when the route is an
// API operation) and enforces itself (as huma middleware, which raw routes
// run too): a new kind of caller, such as a webhook's signature, is a new
// guard, and every route takes every guard.
type guard interface {
	// String says who may call, for the OpenAPI document and errors.
	String() string
	// describe records the guard in route and, for an API operation (op
	// not nil), documents it there: security requirements, headers, error
	// answers. It fails for a route the guard cannot protect.
	describe(route *Route, op *huma.Operation) error
	// middlewares enforce the guard, in order, before the route's handler
	// (and an operation's input) runs.
	middlewares(r *router) huma.Middlewares
}

// anyone() lets anybody call the route.
type anyoneGuard struct{}

func anyone() guard { return anyoneGuard{} }

func (anyoneGuard) String() string { return "anyone" }

func (anyoneGuard) describe(route *Route, op *huma.Operation) error {
	route.Auth = "anyone"
	if op != nil {
		op.Security = []map[string][]string{}
	}
	return nil
}

func (anyoneGuard) middlewares(*router) huma.Middlewares { return nil }

// signedIn() takes a user's session token; API keys are refused.
type sessionGuard struct{}

func signedIn() guard { return sessionGuard{} }

func (sessionGuard) String() string { return "signed-in user" }

func (sessionGuard) describe(route *Route, op *huma.Operation) error {
	route.Auth = "user"
	if op != nil {
		op.Security = []map[string][]string{sessionOnly}
		addResponse(op, "401", "No valid session token (API keys are not accepted here)")
	}
	return nil
}

func (sessionGuard) middlewares(r *router) huma.Middlewares {
	return huma.Middlewares{r.authenticate(false)}
}

// requires(p), requiresOn(p, param) and requiresIn(p, param) guard a
// tenant's route.
type tenantGuard struct {
	permission domain.Permission
	object     string // path parameter naming the object grants apply to
	// tenantParam is the path parameter naming the tenant; "" when the
	// request names it (subdomain, X-Tenant, an API key's own).
	tenantParam string
	noKeys      bool // API keys are refused
}

func requires(p domain.Permission) guard { return tenantGuard{permission: p} }

func requiresOn(p domain.Permission, param string) guard { //nolint:unparam // every route names its object "id" so far; the parameter is the guard's API
	return tenantGuard{permission: p, object: param}
}

// requiresIn(p, param) guards a route whose path names its tenant, as
// /v1/tenants/{slug} does: the tenant is the one path parameter param
// names (a subdomain or X-Tenant header naming another is 400), and the
// caller needs p in it, as with requires(p).
func requiresIn(p domain.Permission, param string) tenantGuard {
	return tenantGuard{permission: p, tenantParam: param}
}

// sessionsOnly refuses API keys (401, as signedIn() does) on g's route:
// for what only a person should do, and a leaked key must never do.
func (g tenantGuard) sessionsOnly() tenantGuard {
	g.noKeys = true
	return g
}

func (g tenantGuard) String() string {
	s := string(g.permission)
	if g.object != "" {
		s += " (or a grant of it on {" + g.object + "})"
	}
	if g.tenantParam != "" {
		s += " in the tenant {" + g.tenantParam + "} names"
	}
	if g.noKeys {
		s += ", with a user's session (API keys are refused)"
	}
	return s
}

func (g tenantGuard) describe(route *Route, op *huma.Operation) error {
	if !domain.KnownPermission(g.permission) {
		return fmt.Errorf("%s declares no known permission (anyone, signedIn, requires or requiresOn)", route.Pattern)
	}
	if g.object != "" && !strings.Contains(route.Path, "{"+g.object+"}") {
		return fmt.Errorf("%s: object grants name path parameter %q, which the path lacks", route.Pattern, g.object)
	}
	if g.tenantParam != "" && !strings.Contains(route.Path, "{"+g.tenantParam+"}") {
		return fmt.Errorf("%s: the tenant is named by path parameter %q, which the path lacks", route.Pattern, g.tenantParam)
	}
	route.Auth, route.Permission, route.ObjectParam, route.TenantParam = "tenant", g.permission, g.object, g.tenantParam
	route.KeysRefused = g.noKeys
	if op != nil {
		switch {
		case g.noKeys:
			op.Security = []map[string][]string{sessionOnly}
			addResponse(op, "401", "No valid session token (API keys are not accepted here)")
		default:
			op.Security = []map[string][]string{sessionOnly, apiKeyOnly}
			addResponse(op, "401", "No valid session token or API key")
		}
		if g.tenantParam == "" {
			documentTenant(op)
		}
		addResponse(op, "403", "The caller's role does not hold "+string(g.permission))
		addResponse(op, "404", "The tenant (or the resource) does not exist, or the caller is not a member of it")
		addResponse(op, "503", "The tenant's storage is unavailable")
		if op.Method != http.MethodGet && !writesWhileUnpaid(g.permission) {
			addResponse(op, "402", "The tenant is read-only: its payment failed and the grace period is over (problem type "+ProblemPaymentRequired+")")
		}
	}
	return nil
}

// middlewares authenticate, resolve the tenant and check the permission,
// in that order (see the top of this file for why), then take from the
// tenant's rate limit; with billing, a write
// of a tenant whose payment is overdue past its grace period is then
// refused (billing.go).
func (g tenantGuard) middlewares(r *router) huma.Middlewares {
	return huma.Middlewares{r.authenticate(!g.noKeys), r.tenant(g.tenantParam), r.authorize(g), r.limitTenant, r.readOnlyUnpaid(g.permission)}
}

// metricsToken declares a route for the operator: the bearer token
// METRICS_TOKEN names, or anyone when it is not set.
type bearerGuard struct{ token string }

func metricsToken(token string) guard { return bearerGuard{token: token} }

func (bearerGuard) String() string { return "the METRICS_TOKEN bearer token when it is set" }

func (bearerGuard) describe(route *Route, op *huma.Operation) error {
	route.Auth = "operator"
	if op != nil {
		op.Security = []map[string][]string{}
		addResponse(op, "401", "The METRICS_TOKEN bearer token is set and was not sent")
	}
	return nil
}

func (g bearerGuard) middlewares(*router) huma.Middlewares {
	if g.token == "" {
		return nil
	}
	return huma.Middlewares{func(ctx huma.Context, next func(huma.Context)) {
		req, w := humago.Unwrap(ctx)
		requireBearer(g.token, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { next(ctx) })).ServeHTTP(w, req)
	}}
}

// addResponse documents an error answer of op unless op documents its own.
func addResponse(op *huma.Operation, code, description string) {
	if op.Responses == nil {
		op.Responses = map[string]*huma.Response{}
	}
	if _, set := op.Responses[code]; !set {
		op.Responses[code] = &huma.Response{Description: description}
	}
}

// addRateLimited documents the 429 every operation can answer: the rate
// limits (RateLimits) cover every route but the probes and /metrics.
func addRateLimited(op *huma.Operation) {
	addResponse(op, "429", "Too many requests from this address, user or API key, or for this tenant (type "+ProblemRateLimited+")")
	op.Responses["429"].Headers = map[string]*huma.Param{
		"Retry-After": {
			Description: "Seconds to wait before a request can succeed",
			Schema:      &huma.Schema{Type: huma.TypeInteger, Minimum: new(float64(1))},
		},
	}
}

// guardKey is where an operation's guard is kept in its metadata.
const guardKey = "guard"

// Route is one route of the API and what it requires.
type Route struct {
	// OperationID is the id of the route's OpenAPI operation; "" for an
	// infrastructure route.
	OperationID string
	Method      string // "" for a pattern matching every method
	Path        string
	// Pattern is the route's ServeMux pattern: "GET /v1/me", or "/".
	Pattern string
	// Infrastructure is set for a route served outside the API's
	// operations, with no OpenAPI operation: huma's documents, /metrics,
	// the not-found answer, any plain handler mounted with router.mount.
	Infrastructure bool
	// Auth is "anyone", "user", "tenant" or "operator" (METRICS_TOKEN).
	Auth string
	// Permission is what a tenant-scoped route needs.
	Permission domain.Permission
	// ObjectParam is the path parameter whose object grants also allow it.
	ObjectParam string
	// TenantParam is the path parameter naming the route's tenant; "" for
	// a route whose request names it.
	TenantParam string
	// KeysRefused is set on a tenant-scoped route API keys may not call.
	KeysRefused bool
	// Entitlement is the plan feature the route needs besides the
	// permission (entitled), and Limit the plan's numeric limit it
	// creates against (limited); "" for none.
	Entitlement, Limit string
}

// maxBodyBytes bounds every request body unless an operation says
// otherwise; a larger one is answered 413 before it is parsed.
const maxBodyBytes = 64 << 10

// Security scheme names in the OpenAPI document.
const (
	schemeSession = "session"
	schemeAPIKey  = "apiKey"
)

// Security requirements of operations: one scheme each, either may do.
var (
	sessionOnly = map[string][]string{schemeSession: {}}
	apiKeyOnly  = map[string][]string{schemeAPIKey: {}}
)

// securitySchemes documents the two kinds of bearer token.
func securitySchemes() map[string]*huma.SecurityScheme {
	return map[string]*huma.SecurityScheme{
		schemeSession: { //nolint:gosec // G101: describes a scheme, holds no credential
			Type: "http", Scheme: "bearer", BearerFormat: "opaque session token (st_...)",
			Description: "The token of POST /v1/auth/login, as Authorization: Bearer <token>. Ends at logout or expiry.",
		},
		schemeAPIKey: { //nolint:gosec // G101: describes a scheme, holds no credential
			Type: "http", Scheme: "bearer", BearerFormat: "API key (ak_...)",
			Description: "An API key of POST /v1/api-keys, as Authorization: Bearer <key>. Works in its own tenant only, " +
				"with its role (capped by its creator's); never in the query string.",
		},
	}
}

// routeMux is the ServeMux every route is registered on, huma's operations
// and documents included (it is the humago.Mux huma registers with). It
// keeps every pattern, so that router.check can refuse one nobody declared,
// and puts every handler behind refuseQueryCredentials.
type routeMux struct {
	*http.ServeMux
	patterns []string
}

func newRouteMux() *routeMux { return &routeMux{ServeMux: http.NewServeMux()} }

// HandleFunc registers handler for pattern; huma registers this way.
func (m *routeMux) HandleFunc(pattern string, handler func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(handler))
}

// Handle registers handler for pattern, behind refuseQueryCredentials.
func (m *routeMux) Handle(pattern string, handler http.Handler) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.Handle(pattern, refuseQueryCredentials(handler))
}

// router registers operations with their policies and keeps the list.
type router struct {
	api    huma.API
	mux    *routeMux
	deps   Deps
	routes []Route
	errs   []error
	// grantable maps each permission that object grants may give to the
	// resource whose objects it applies to; finders look those objects up.
	grantable map[domain.Permission]bool
	finders   map[string]objectFinder
	// users and tenants are the per-user and per-tenant rate limits.
	users, tenants *buckets
	// planRates holds tenants' plan rate limits, when the plans set any.
	planRates *planRates
}

// objectFinder returns nil when tenant t has the object with id, and
// ENOTFOUND when it has not.
type objectFinder func(ctx context.Context, t domain.Tenant, id string) error

func newRouter(api huma.API, mux *routeMux, deps Deps) *router {
	r := &router{
		api:       api,
		mux:       mux,
		deps:      deps,
		grantable: map[domain.Permission]bool{},
		finders:   map[string]objectFinder{},
		users:     newBuckets(deps.RateLimits.User),
		tenants:   newBuckets(deps.RateLimits.Tenant),
	}
	r.usePlanRates()
	api.UseMiddleware(r.failClosed)
	return r
}

// tenant returns the middleware resolving a tenant-scoped route's tenant:
// the one path parameter param names, or for param "", the request's.
func (r *router) tenant(param string) func(huma.Context, func(huma.Context)) {
	return requireTenant(r.api, r.deps.Logger, r.deps.BaseDomain, r.deps.Tenants, param)
}

// endpoint is an API operation as its maker describes and serves it: its
// id, summary, tags, status and documented answers, and its handler.
// routes.go gives it a method, a path and a guard.
type endpoint struct {
	op       huma.Operation
	register func(api huma.API, logger *slog.Logger, op huma.Operation)
}

// newEndpoint pairs an operation's description with its handler.
func newEndpoint[I, O any](op huma.Operation, handler func(context.Context, *I) (*O, error)) endpoint {
	return endpoint{op: op, register: func(api huma.API, logger *slog.Logger, op huma.Operation) {
		register(api, logger, op, handler)
	}}
}

func (r *router) get(path string, g guard, e endpoint)    { r.handle(http.MethodGet, path, g, e) }
func (r *router) post(path string, g guard, e endpoint)   { r.handle(http.MethodPost, path, g, e) }
func (r *router) patch(path string, g guard, e endpoint)  { r.handle(http.MethodPatch, path, g, e) }
func (r *router) delete(path string, g guard, e endpoint) { r.handle(http.MethodDelete, path, g, e) }

// handle registers endpoint e as the operation method path, behind g.
// Without a guard it registers nothing and records the error NewHandler
// returns; so does a guard that cannot protect the route.
func (r *router) handle(method, path string, g guard, e endpoint) {
	op := e.op
	op.Method, op.Path = method, path
	route := Route{OperationID: op.OperationID, Method: method, Path: path, Pattern: method + " " + path}
	if g == nil {
		r.errs = append(r.errs, fmt.Errorf("%s declares no known permission (anyone, signedIn, requires or requiresOn): not registered", route.Pattern))
		return
	}
	if err := g.describe(&route, &op); err != nil {
		r.errs = append(r.errs, fmt.Errorf("%w: not registered", err))
		return
	}
	if op.MaxBodyBytes == 0 {
		op.MaxBodyBytes = maxBodyBytes
	}
	if op.Metadata == nil {
		op.Metadata = map[string]any{}
	}
	op.Metadata[guardKey] = g
	if _, tenants := g.(tenantGuard); tenants && method == http.MethodGet {
		op.Metadata[rememberKey] = true
	}
	if op.Extensions == nil {
		op.Extensions = map[string]any{}
	}
	op.Extensions["x-permission"] = g.String()
	addResponse(&op, "413", "The request body is larger than the operation accepts")
	addRateLimited(&op)
	op.Middlewares = append(g.middlewares(r), op.Middlewares...)
	op.Description = strings.TrimSpace(op.Description + "\n\nRequires: " + g.String() + ".")
	e.register(r.api, r.deps.Logger, op)
	r.routes = append(r.routes, r.grants(route))
}

// grants notes that route's permission allows object grants, whose
// objects router.check makes sure someone can look up.
func (r *router) grants(route Route) Route {
	if route.ObjectParam != "" {
		r.grantable[route.Permission] = true
	}
	return route
}

// mount serves handler at pattern, outside the API's operations (no
// OpenAPI operation), behind g: any guard, the tenant's and permission's
// included, which run before handler exactly as on an operation (a
// websocket upgrade, a webhook).
func (r *router) mount(pattern string, g guard, handler http.Handler) {
	route, ok := r.declare(pattern, g)
	if !ok {
		return
	}
	if chain := g.middlewares(r); len(chain) > 0 {
		handler = guardRaw(route, g, chain, handler)
	}
	r.mux.Handle(pattern, handler)
}

// guardRaw runs the huma middlewares of a guard in front of a plain
// handler, which gets the request with the context they built (the
// principal, the tenant, the access).
func guardRaw(route Route, g guard, chain huma.Middlewares, next http.Handler) http.Handler {
	op := &huma.Operation{Method: route.Method, Path: route.Path, Metadata: map[string]any{guardKey: g}}
	serve := chain.Handler(func(ctx huma.Context) {
		req, w := humago.Unwrap(ctx)
		next.ServeHTTP(w, req.WithContext(ctx.Context()))
	})
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		serve(humago.NewContext(op, req, w))
	})
}

// servedByHuma declares a route huma registers itself (its OpenAPI
// documents, schemas and docs page). huma serves it without middleware,
// so only a guard with nothing to enforce fits.
func (r *router) servedByHuma(pattern string, g guard) {
	if g != nil && len(g.middlewares(r)) > 0 {
		r.errs = append(r.errs, fmt.Errorf("%s declares %s, which a route huma serves itself cannot enforce", pattern, g))
		return
	}
	r.declare(pattern, g)
}

// declare records a route outside the API's operations; it reports false,
// recording the error NewHandler returns, without a guard or with one the
// route cannot take.
func (r *router) declare(pattern string, g guard) (Route, bool) {
	route := Route{Pattern: pattern, Path: pattern, Infrastructure: true}
	if method, path, ok := strings.Cut(pattern, " "); ok {
		route.Method, route.Path = method, path
	}
	if g == nil {
		r.errs = append(r.errs, fmt.Errorf("%s declares nobody who may call it: not served", pattern))
		return route, false
	}
	if err := g.describe(&route, nil); err != nil {
		r.errs = append(r.errs, fmt.Errorf("%w: not served", err))
		return route, false
	}
	r.routes = append(r.routes, r.grants(route))
	return route, true
}

// findObjects says how to look up the objects of resource, so that grants
// on them can be checked to name an object of the tenant.
func (r *router) findObjects(resource string, find objectFinder) {
	r.finders[resource] = find
}

// check returns every error of registration, and one for each operation of
// the OpenAPI document that did not go through handle (registered with
// huma directly, so without a guard), for each pattern on the mux nobody
// declared (or declared and nobody serves), and for each permission that
// allows object grants on a resource nobody said how to look up.
func (r *router) check() error {
	errs := slices.Clone(r.errs)
	declared := map[string]bool{}
	for i := range r.routes {
		declared[r.routes[i].Pattern] = true
	}
	for _, pattern := range r.mux.patterns {
		if !declared[pattern] {
			errs = append(errs, fmt.Errorf("%s is served without a declaration of who may call it (handle, mount or servedByHuma)", pattern))
		}
	}
	for i := range r.routes {
		if pattern := r.routes[i].Pattern; !slices.Contains(r.mux.patterns, pattern) {
			errs = append(errs, fmt.Errorf("%s is declared but nothing serves it", pattern))
		}
	}
	for path, item := range r.api.OpenAPI().Paths {
		for method, op := range map[string]*huma.Operation{
			http.MethodGet: item.Get, http.MethodPost: item.Post, http.MethodPut: item.Put,
			http.MethodPatch: item.Patch, http.MethodDelete: item.Delete, http.MethodHead: item.Head,
			http.MethodOptions: item.Options, http.MethodTrace: item.Trace,
		} {
			if op == nil {
				continue
			}
			if _, ok := op.Metadata[guardKey].(guard); !ok {
				errs = append(errs, fmt.Errorf("%s %s was registered without a permission", method, path))
			}
		}
	}
	for _, p := range slices.Sorted(maps.Keys(r.grantable)) {
		if r.finders[p.Resource()] == nil {
			errs = append(errs, fmt.Errorf("object grants of %s need a way to look up %s (router.findObjects)", p, p.Resource()))
		}
	}
	return errors.Join(errs...)
}

// queryCredential matches a query parameter that carries a credential.
var (
	credentialParams = []string{"access_token", "api_key", "apikey", "key", "token", "session", "auth", "authorization", "bearer"}
	credentialValue  = regexp.MustCompile(`^(ak|st|inv)_[A-Z2-7]{26}$`)
)

// failClosed runs first on every operation: it fails closed on an
// operation without a guard.
func (r *router) failClosed(ctx huma.Context, next func(huma.Context)) {
	if _, ok := ctx.Operation().Metadata[guardKey].(guard); !ok {
		_ = huma.WriteErr(r.api, ctx, http.StatusInternalServerError, "An internal error occurred.")
		return
	}
	next(ctx)
}

// refuseQueryCredentials answers 400 to a request carrying a credential in
// its query string (where access logs, proxies and browser history would
// keep it), whatever the route: routeMux puts every handler behind it.
func refuseQueryCredentials(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for name, values := range r.URL.Query() {
			leaked := slices.Contains(credentialParams, strings.ToLower(name)) ||
				slices.ContainsFunc(values, credentialValue.MatchString)
			if leaked {
				writeProblem(w, http.StatusBadRequest,
					"Credentials are never accepted in the query string; send them as Authorization: Bearer <token>. "+
						"If this was a real key, revoke it: the URL may have been logged on its way here.")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// tokenKey holds the bearer token itself, for logout.
type tokenKey struct{}

type accessKey struct{}

// authenticate reads the bearer token and puts its principal in the
// context (and its id on every log line). keys says whether API keys are
// accepted.
func (r *router) authenticate(keys bool) func(huma.Context, func(huma.Context)) {
	return func(ctx huma.Context, next func(huma.Context)) {
		token, ok := bearerToken(ctx.Header("Authorization"))
		if !ok {
			r.unauthorized(ctx, "Send a session token or API key as Authorization: Bearer <token>.")
			return
		}
		hint := r.tenantHint(ctx)
		p, check, err := r.principal(ctx, token, hint)
		if domain.ErrorCode(err) == domain.EUNAUTHORIZED {
			r.unauthorized(ctx, domain.ErrorMessage(err))
			return
		}
		if err != nil {
			r.fail(ctx, err)
			return
		}
		if p.APIKey != nil && !keys {
			r.unauthorized(ctx, "API keys work on tenant-scoped operations only; this one needs a user's session token.")
			return
		}
		c := context.WithValue(domain.WithPrincipal(ctx.Context(), p), tokenKey{}, token)
		if check != nil {
			c = withLateCheck(c, &lateCheck{check: check, hint: hint, logger: r.deps.Logger, authenticate: func(c context.Context) error {
				_, err := r.deps.Identity.AuthenticateIn(c, token, hint)
				return err
			}})
		}
		ctx = huma.WithContext(ctx, c)
		// Each API key has a budget of its own; a user's sessions share one.
		who := "user:" + p.UserID
		if p.APIKey != nil {
			who = "key:" + p.APIKey.ID
		}
		if wait, ok := r.users.take(who, time.Now()); !ok {
			r.fail(ctx, rateLimited(wait, "from this user or API key"))
			return
		}
		attrs := []slog.Attr{slog.String("user_id", p.UserID)}
		if p.APIKey != nil {
			attrs = append(attrs, slog.String("api_key_id", p.APIKey.ID))
		}
		noteUser(c, p)
		next(huma.WithContext(ctx, logging.With(c, attrs...)))
	}
}

// principal authenticates token for ctx's operation: from memory
// (Identity.RememberedIn, with the check the request must pass before it
// answers; see checked.go) when the operation only reads, otherwise in
// full.
func (r *router) principal(ctx huma.Context, token, hint string) (domain.Principal, *postgres.AccessCheck, error) {
	if remembers(ctx.Operation()) {
		if p, check, ok := r.deps.Identity.RememberedIn(ctx.Context(), token, hint); ok {
			return p, check, nil
		}
	}
	p, err := r.deps.Identity.AuthenticateIn(ctx.Context(), token, hint)
	return p, nil, err
}

// tenantHint is the tenant slug a request names by subdomain or header, ""
// when it names none or names it badly (requireTenant answers that later).
// Authentication reads the membership there in the same round trip.
func (r *router) tenantHint(ctx huma.Context) string {
	slug, err := tenantSlug(ctx.Host(), ctx.Header(TenantHeader), r.deps.BaseDomain)
	if err != nil {
		return ""
	}
	return slug
}

// authorize decides, after the tenant is resolved, whether the principal
// may do what g requires in it. A session remembered (checked.go) only
// ever lets a request in: what it would refuse is decided afresh.
func (r *router) authorize(g tenantGuard) func(huma.Context, func(huma.Context)) {
	return func(ctx huma.Context, next func(huma.Context)) {
		c := ctx.Context()
		principal, okP := domain.PrincipalFrom(c)
		t, okT := c.Value(tenantKey{}).(domain.Tenant)
		if !okP || !okT {
			r.fail(ctx, errors.New("authorize runs after authenticate and the tenant"))
			return
		}
		object := ""
		if g.object != "" {
			object = ctx.Param(g.object)
		}
		late := lateCheckFrom(c)
		if late != nil {
			token, _ := c.Value(tokenKey{}).(string)
			late.afresh = func(c context.Context) (context.Context, error) {
				return r.afresh(c, g, token, late.hint, t, object)
			}
		}
		a, err := r.decide(c, g, principal, t, object)
		switch {
		case err == nil:
			c = context.WithValue(c, accessKey{}, a)
		case late != nil:
			c, err = late.again(c)
		}
		switch {
		case domain.ErrorCode(err) == domain.EUNAUTHORIZED:
			r.unauthorized(ctx, domain.ErrorMessage(err))
		case err != nil:
			r.fail(ctx, err)
		default:
			next(huma.WithContext(ctx, c))
		}
	}
}

// decide returns what p may do in t when it allows what g requires (on
// object, the path parameter g names for object grants), and the error to
// answer otherwise.
func (r *router) decide(ctx context.Context, g tenantGuard, p domain.Principal, t domain.Tenant, object string) (domain.Access, error) {
	a, err := r.deps.Identity.Access(ctx, p, t)
	if err != nil {
		return domain.Access{}, err
	}
	if a.Can(g.permission) {
		return a, nil
	}
	if g.object != "" {
		granted, err := r.deps.Identity.HasGrant(ctx, a, g.permission, object)
		if err != nil {
			return domain.Access{}, err
		}
		if granted {
			return a, nil
		}
	}
	return domain.Access{}, domain.Errorf(domain.EFORBIDDEN, "Role %q does not allow %s here.", a.Role, g.permission)
}

// afresh authenticates token in full (hint is the tenant the request
// names) and decides g in t again, returning the context to serve the
// request in: its principal and access, and no check pending.
func (r *router) afresh(ctx context.Context, g tenantGuard, token, hint string, t domain.Tenant, object string) (context.Context, error) {
	p, err := r.deps.Identity.AuthenticateIn(ctx, token, hint)
	if err != nil {
		return nil, err
	}
	a, err := r.decide(ctx, g, p, t, object)
	if err != nil {
		return nil, err
	}
	return context.WithValue(withoutLateCheck(domain.WithPrincipal(ctx, p)), accessKey{}, a), nil
}

// limitTenant refuses a tenant's requests over the tenant limit (its
// plan's rate_limit, when it sets one). It runs after authorize: only
// the tenant's own members and keys spend its budget.
func (r *router) limitTenant(ctx huma.Context, next func(huma.Context)) {
	if t, ok := ctx.Context().Value(tenantKey{}).(domain.Tenant); ok {
		limit := r.deps.RateLimits.Tenant
		if planned, set := r.planRate(ctx.Context(), t.ID); set {
			limit = planned
		}
		if wait, ok := r.tenants.takeAt(t.ID, time.Now(), limit); !ok {
			r.fail(ctx, rateLimited(wait, "in this tenant"))
			return
		}
	}
	next(ctx)
}

// apiChallenge is the WWW-Authenticate header of every 401 the API
// answers.
const apiChallenge = `Bearer realm="api"`

func (r *router) unauthorized(ctx huma.Context, detail string) {
	ctx.SetHeader("WWW-Authenticate", apiChallenge)
	_ = huma.WriteErr(r.api, ctx, http.StatusUnauthorized, detail)
}

// fail answers a middleware's error with the status of its domain code.
// A request let in on a remembered credential is refused only once its
// check passed (lateCheck.settle): a credential whose access changed is
// refused as a full authentication refuses it.
func (r *router) fail(ctx huma.Context, err error) {
	if late := lateCheckFrom(ctx.Context()); late != nil && errorStatus(unavailable(err)) < http.StatusInternalServerError {
		if refusal := late.settle(ctx.Context()); refusal != nil {
			if domain.ErrorCode(refusal) == domain.EUNAUTHORIZED {
				r.unauthorized(ctx, domain.ErrorMessage(refusal))
				return
			}
			err = refusal
		}
	}
	req, _ := humago.Unwrap(ctx)
	writeError(r.api, ctx, req, r.deps.Logger, err)
}

// bearerToken returns the token of an Authorization: Bearer header. Tokens
// are printable ASCII without spaces, at most 200 bytes.
func bearerToken(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	if token == "" || len(token) > 200 {
		return "", false
	}
	for _, c := range []byte(token) {
		if c <= ' ' || c > '~' {
			return "", false
		}
	}
	return token, true
}

// principalFrom returns the principal authenticate put in ctx; operations
// declared signedIn() get it.
func principalFrom(ctx context.Context) (domain.Principal, error) {
	p, ok := domain.PrincipalFrom(ctx)
	if !ok || p.UserID == "" {
		return domain.Principal{}, domain.Errorf(domain.EINTERNAL, "operation registered without authentication")
	}
	return p, nil
}

// withAccess adapts the handler of a tenant-scoped operation: it gets what
// the caller may do in the request's tenant. Registered without its guard
// middleware it fails closed.
func withAccess[I, O any](handler func(context.Context, domain.Access, *I) (*O, error)) func(context.Context, *I) (*O, error) {
	return func(ctx context.Context, input *I) (*O, error) {
		a, ok := ctx.Value(accessKey{}).(domain.Access)
		if !ok || a.Tenant.ID == "" {
			return nil, domain.Errorf(domain.EINTERNAL, "tenant-scoped operation registered without its guard")
		}
		return handler(ctx, a, input)
	}
}

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
	"strconv"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/acme/shop-api/internal/domain"
	"github.com/acme/shop-api/internal/logging"
)

// Every operation declares who may call it, next to its registration in
// routes.go, with one of these:
//
//	anyone()                  no credentials (health, sign-up, login)
//	signedIn()                a user's session token; API keys are refused
//	requires(p)               a member of the request's tenant whose role
//	                          holds p, an API key of that tenant whose does,
//	                          or a superuser's session (owner everywhere)
//	requiresOn(p, "id")       the same, or an object grant of p on the object
//	                          the path parameter id names
//
// An operation registered without a declaration is not registered, and
// NewHandler fails: the server refuses to start rather than serve a route
// nobody decided about. Routes served outside the API's operations (the
// OpenAPI document and docs huma serves, /metrics, the not-found answer)
// are declared too, with router.mount or router.servedByHuma, and take
// anyone() or metricsToken(token); any other pattern on the mux stops the
// server as well. Every route, declared or not, refuses credentials in the
// query string. Tenant-scoped operations run, in order:
// authentication (401 for missing or bad credentials, whatever the tenant,
// so anonymous callers learn nothing about which tenants exist), tenant
// resolution (404 for an unknown tenant), membership (404 for a tenant the
// caller is not in, the same answer) and the permission (403).

// policyKind says which credentials an operation takes.
type policyKind int

const (
	policyUndeclared policyKind = iota
	policyAnyone
	policySignedIn
	policyTenant
	policyOperator
)

// policy is an operation's declaration of who may call it.
type policy struct {
	kind       policyKind
	permission domain.Permission
	object     string // path parameter naming the object grants apply to
	token      string // the operator's bearer token, for policyOperator
}

func anyone() policy   { return policy{kind: policyAnyone} }
func signedIn() policy { return policy{kind: policySignedIn} }

// metricsToken declares a route for the operator: the bearer token
// METRICS_TOKEN names, or anyone when it is not set.
func metricsToken(token string) policy { return policy{kind: policyOperator, token: token} }

func requires(p domain.Permission) policy {
	return policy{kind: policyTenant, permission: p}
}

func requiresOn(p domain.Permission, param string) policy {
	return policy{kind: policyTenant, permission: p, object: param}
}

// String describes the policy for the OpenAPI document and errors.
func (p policy) String() string {
	switch p.kind {
	case policyAnyone:
		return "anyone"
	case policySignedIn:
		return "signed-in user"
	case policyTenant:
		if p.object != "" {
			return string(p.permission) + " (or a grant of it on {" + p.object + "})"
		}
		return string(p.permission)
	case policyOperator:
		return "the METRICS_TOKEN bearer token when it is set"
	case policyUndeclared:
	}
	return "undeclared"
}

// policyKey is where an operation's policy is kept in its metadata.
const policyKey = "policy"

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
	// the not-found answer.
	Infrastructure bool
	// Auth is "anyone", "user", "tenant" or "operator" (METRICS_TOKEN).
	Auth string
	// Permission is what a tenant-scoped operation needs.
	Permission domain.Permission
	// ObjectParam is the path parameter whose object grants also allow it.
	ObjectParam string
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
	tenant func(huma.Context, func(huma.Context))
	routes []Route
	errs   []error
	// grantable maps each permission that object grants may give to the
	// resource whose objects it applies to; finders look those objects up.
	grantable map[domain.Permission]bool
	finders   map[string]objectFinder
}

// objectFinder returns nil when tenant t has the object with id, and
// ENOTFOUND when it has not.
type objectFinder func(ctx context.Context, t domain.Tenant, id string) error

func newRouter(api huma.API, mux *routeMux, deps Deps) *router {
	r := &router{
		api:       api,
		mux:       mux,
		deps:      deps,
		tenant:    requireTenant(api, deps.Logger, deps.BaseDomain, deps.Tenants),
		grantable: map[domain.Permission]bool{},
		finders:   map[string]objectFinder{},
	}
	api.UseMiddleware(r.guard)
	return r
}

// handle registers an operation with its policy. Without one (the zero
// policy) it registers nothing and records the error NewHandler returns.
func handle[I, O any](r *router, op huma.Operation, p policy, handler func(context.Context, *I) (*O, error)) {
	if p.kind == policyUndeclared || (p.kind == policyTenant && !domain.KnownPermission(p.permission)) {
		r.errs = append(r.errs, fmt.Errorf("%s %s declares no known permission (anyone, signedIn, requires or requiresOn): not registered", op.Method, op.Path))
		return
	}
	if p.kind == policyOperator {
		r.errs = append(r.errs, fmt.Errorf("%s %s declares metricsToken(), which only routes served with mount take: not registered", op.Method, op.Path))
		return
	}
	if p.object != "" && !strings.Contains(op.Path, "{"+p.object+"}") {
		r.errs = append(r.errs, fmt.Errorf("%s %s: object grants name path parameter %q, which the path lacks", op.Method, op.Path, p.object))
		return
	}
	if op.MaxBodyBytes == 0 {
		op.MaxBodyBytes = maxBodyBytes
	}
	if op.Metadata == nil {
		op.Metadata = map[string]any{}
	}
	op.Metadata[policyKey] = p
	if op.Extensions == nil {
		op.Extensions = map[string]any{}
	}
	op.Extensions["x-permission"] = p.String()
	responses := map[string]*huma.Response{
		"413": {Description: "The request body is larger than the operation accepts"},
	}
	route := Route{OperationID: op.OperationID, Method: op.Method, Path: op.Path, Pattern: strings.ToUpper(op.Method) + " " + op.Path}
	switch p.kind {
	case policyAnyone:
		route.Auth = "anyone"
		op.Security = []map[string][]string{}
	case policySignedIn:
		route.Auth = "user"
		op.Security = []map[string][]string{sessionOnly}
		op.Middlewares = append(huma.Middlewares{r.authenticate(false)}, op.Middlewares...)
		responses["401"] = &huma.Response{Description: "No valid session token (API keys are not accepted here)"}
	case policyTenant:
		route.Auth, route.Permission, route.ObjectParam = "tenant", p.permission, p.object
		op.Security = []map[string][]string{sessionOnly, apiKeyOnly}
		op.Middlewares = append(huma.Middlewares{r.authenticate(true), r.tenant, r.authorize(p)}, op.Middlewares...)
		responses["401"] = &huma.Response{Description: "No valid session token or API key"}
		responses["403"] = &huma.Response{Description: "The caller's role does not hold " + string(p.permission)}
		responses["404"] = &huma.Response{Description: "The tenant (or the resource) does not exist, or the caller is not a member of it"}
		responses["503"] = &huma.Response{Description: "The tenant's storage is unavailable"}
		if p.object != "" {
			r.grantable[p.permission] = true
		}
	case policyOperator, policyUndeclared:
	}
	if op.Responses == nil {
		op.Responses = map[string]*huma.Response{}
	}
	for code, res := range responses {
		if _, set := op.Responses[code]; !set {
			op.Responses[code] = res
		}
	}
	op.Description = strings.TrimSpace(op.Description + "\n\nRequires: " + p.String() + ".")
	register(r.api, r.deps.Logger, op, handler)
	r.routes = append(r.routes, route)
}

// mount serves handler at pattern, outside the API's operations (no
// OpenAPI operation, no huma middleware), declared with who may call it:
// anyone() or metricsToken(token), which mount enforces. Operations that
// need a user or a tenant go through handle.
func (r *router) mount(pattern string, p policy, handler http.Handler) {
	if !r.declare(pattern, p) {
		return
	}
	if p.kind == policyOperator {
		handler = requireBearer(p.token, handler)
	}
	r.mux.Handle(pattern, handler)
}

// servedByHuma declares a route huma registers itself (its OpenAPI
// documents, schemas and docs page).
func (r *router) servedByHuma(pattern string, p policy) {
	r.declare(pattern, p)
}

// declare records an infrastructure route; it reports false, recording the
// error NewHandler returns, for a policy such a route cannot enforce.
func (r *router) declare(pattern string, p policy) bool {
	route := Route{Pattern: pattern, Path: pattern, Infrastructure: true}
	if method, path, ok := strings.Cut(pattern, " "); ok {
		route.Method, route.Path = method, path
	}
	switch p.kind {
	case policyAnyone:
		route.Auth = "anyone"
	case policyOperator:
		route.Auth = "operator"
	case policyUndeclared, policySignedIn, policyTenant:
		r.errs = append(r.errs, fmt.Errorf("%s declares %s: a route outside the API's operations takes anyone() or metricsToken(); register it with handle", pattern, p))
		return false
	}
	r.routes = append(r.routes, route)
	return true
}

// findObjects says how to look up the objects of resource, so that grants
// on them can be checked to name an object of the tenant.
func (r *router) findObjects(resource string, find objectFinder) {
	r.finders[resource] = find
}

// check returns every error of registration, and one for each operation of
// the OpenAPI document that did not go through handle (registered with
// huma directly, so without a policy), for each pattern on the mux nobody
// declared (or declared and nobody serves), and for each permission that
// allows object grants on a resource nobody said how to look up.
func (r *router) check() error {
	errs := slices.Clone(r.errs)
	declared := map[string]bool{}
	for _, route := range r.routes {
		declared[route.Pattern] = true
	}
	for _, pattern := range r.mux.patterns {
		if !declared[pattern] {
			errs = append(errs, fmt.Errorf("%s is served without a declaration of who may call it (handle, mount or servedByHuma)", pattern))
		}
	}
	for _, route := range r.routes {
		if !slices.Contains(r.mux.patterns, route.Pattern) {
			errs = append(errs, fmt.Errorf("%s is declared but nothing serves it", route.Pattern))
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
			if _, ok := op.Metadata[policyKey].(policy); !ok {
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

// guard runs first on every operation: it fails closed on an operation
// without a policy.
func (r *router) guard(ctx huma.Context, next func(huma.Context)) {
	if _, ok := ctx.Operation().Metadata[policyKey].(policy); !ok {
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

type principalKey struct{}

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
		p, err := r.deps.Identity.Authenticate(ctx.Context(), token)
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
		attrs := []slog.Attr{slog.String("user_id", p.UserID)}
		if p.APIKey != nil {
			attrs = append(attrs, slog.String("api_key_id", p.APIKey.ID))
		}
		noteUser(ctx.Context(), p)
		c := context.WithValue(context.WithValue(ctx.Context(), principalKey{}, p), tokenKey{}, token)
		c = logging.With(c, attrs...)
		next(huma.WithContext(ctx, c))
	}
}

// authorize decides, after the tenant is resolved, whether the principal
// may do what p requires in it.
func (r *router) authorize(p policy) func(huma.Context, func(huma.Context)) {
	return func(ctx huma.Context, next func(huma.Context)) {
		principal, okP := ctx.Context().Value(principalKey{}).(domain.Principal)
		t, okT := ctx.Context().Value(tenantKey{}).(domain.Tenant)
		if !okP || !okT {
			r.fail(ctx, errors.New("authorize runs after authenticate and the tenant"))
			return
		}
		a, err := r.deps.Identity.Access(ctx.Context(), principal, t)
		if err != nil {
			r.fail(ctx, err)
			return
		}
		if !a.Can(p.permission) {
			granted := false
			if p.object != "" {
				granted, err = r.deps.Identity.HasGrant(ctx.Context(), a, p.permission, ctx.Param(p.object))
				if err != nil {
					r.fail(ctx, err)
					return
				}
			}
			if !granted {
				r.fail(ctx, domain.Errorf(domain.EFORBIDDEN, "Role %q does not allow %s here.", a.Role, p.permission))
				return
			}
		}
		next(huma.WithContext(ctx, context.WithValue(ctx.Context(), accessKey{}, a)))
	}
}

func (r *router) unauthorized(ctx huma.Context, detail string) {
	ctx.SetHeader("WWW-Authenticate", `Bearer realm="api"`)
	_ = huma.WriteErr(r.api, ctx, http.StatusUnauthorized, detail)
}

// fail answers a middleware's error with the status of its domain code.
func (r *router) fail(ctx huma.Context, err error) {
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
	p, ok := ctx.Value(principalKey{}).(domain.Principal)
	if !ok || p.UserID == "" {
		return domain.Principal{}, domain.Errorf(domain.EINTERNAL, "operation registered without authentication")
	}
	return p, nil
}

// withAccess adapts the handler of a tenant-scoped operation: it gets what
// the caller may do in the request's tenant. Registered without the policy
// middleware it fails closed.
func withAccess[I, O any](handler func(context.Context, domain.Access, *I) (*O, error)) func(context.Context, *I) (*O, error) {
	return func(ctx context.Context, input *I) (*O, error) {
		a, ok := ctx.Value(accessKey{}).(domain.Access)
		if !ok || a.Tenant.ID == "" {
			return nil, domain.Errorf(domain.EINTERNAL, "tenant-scoped operation registered without its policy")
		}
		return handler(ctx, a, input)
	}
}

// retryAfterHeader is the Retry-After value of a throttled answer, whole
// seconds rounded up.
func retryAfterHeader(err error) string {
	d := domain.ErrorRetryAfter(err)
	return strconv.Itoa(max(1, int((d.Milliseconds()+999)/1000)))
}

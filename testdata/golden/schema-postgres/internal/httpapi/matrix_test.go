package httpapi_test

import (
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"example.com/acme/internal/domain"
	"example.com/acme/internal/httpapi"
)

// The callers of the matrix.
const (
	asOwner     = "owner"
	asAdmin     = "admin"
	asMember    = "member"
	asViewer    = "viewer"
	asAPIKey    = "API key (role member)" //nolint:gosec // G101: a caller's label, not a credential
	asAnonymous = "anonymous"
	asOutsider  = "member of another tenant"
	asSuperuser = "superuser, member of no tenant"
)

var matrixCallers = []string{asOwner, asAdmin, asMember, asViewer, asAPIKey, asAnonymous, asOutsider, asSuperuser}

// refusedToSuperusers are the operations a superuser who is not a member
// is refused although they hold the permission, with the status: an API key
// acts for a member of its tenant, and being a superuser is not handed on.
var refusedToSuperusers = map[string]int{"create-api-key": http.StatusForbidden}

// allowedBy says, for every permission, which callers hold it in the
// tenant: written out here, not derived from the code under test. A
// superuser acts as an owner in every tenant, member or not.
var allowedBy = map[domain.Permission][]string{
	domain.MembersRead:      {asOwner, asAdmin, asMember, asViewer, asAPIKey, asSuperuser},
	domain.RolesRead:        {asOwner, asAdmin, asMember, asViewer, asAPIKey, asSuperuser},
	domain.MembersWrite:     {asOwner, asAdmin, asSuperuser},
	domain.InvitationsRead:  {asOwner, asAdmin, asSuperuser},
	domain.InvitationsWrite: {asOwner, asAdmin, asSuperuser},
	domain.RolesWrite:       {asOwner, asAdmin, asSuperuser},
	domain.GrantsRead:       {asOwner, asAdmin, asSuperuser},
	domain.GrantsWrite:      {asOwner, asAdmin, asSuperuser},
	domain.APIKeysRead:      {asOwner, asAdmin, asSuperuser},
	domain.APIKeysWrite:     {asOwner, asAdmin, asSuperuser},
	domain.AuditRead:        {asOwner, asAdmin, asSuperuser},
	domain.TenantWrite:      {asOwner, asAdmin, asSuperuser},
	domain.TenantDelete:     {asOwner, asSuperuser},

	// Resources (the sample projects, then those added with `saaskit add
	// resource`), below this line.

	domain.ProjectsRead:   {asOwner, asAdmin, asMember, asViewer, asAPIKey, asSuperuser},
	domain.ProjectsWrite:  {asOwner, asAdmin, asMember, asAPIKey, asSuperuser},
	domain.ProjectsDelete: {asOwner, asAdmin, asSuperuser},

	domain.CustomersRead:   {asOwner, asAdmin, asMember, asViewer, asAPIKey, asSuperuser},
	domain.CustomersWrite:  {asOwner, asAdmin, asMember, asAPIKey, asSuperuser},
	domain.CustomersDelete: {asOwner, asAdmin, asSuperuser},

	domain.InvoicesRead:   {asOwner, asAdmin, asMember, asViewer, asAPIKey, asSuperuser},
	domain.InvoicesWrite:  {asOwner, asAdmin, asMember, asAPIKey, asSuperuser},
	domain.InvoicesDelete: {asOwner, asAdmin, asSuperuser},
}

// matrixRequest is a request that succeeds (with status) for a caller who
// may make it.
type matrixRequest struct {
	method, path string
	body         any
	status       int
}

// matrixBundle holds the matrix's tenant and callers.
type matrixBundle struct {
	*apiBundle
	tenantID string
	tokens   map[string]string
	emails   map[string]string
	inviter  string
	project  projectJSON
	n        int
}

// unique returns a fresh suffix for names.
func (m *matrixBundle) unique() string {
	m.n++
	return strconv.Itoa(m.n)
}

// freshMember adds a viewer to the tenant behind the API's back (no
// password hashing: the matrix needs many) and returns the membership id
// and user id.
func (m *matrixBundle) freshMember(t *testing.T) (string, string) {
	t.Helper()
	email := "fresh" + m.unique() + "@example.com"
	userID := m.query(t, `INSERT INTO users (email, name, password_hash) VALUES ($1, 'Fresh', '$argon2id$v=19$m=19456,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA') RETURNING id::text`, email)[0]
	memberID := m.query(t, `INSERT INTO memberships (tenant_id, user_id, role) VALUES ($1, $2, 'viewer') RETURNING id::text`, m.tenantID, userID)[0]
	return memberID, userID
}

// customRole makes a custom role nobody holds, as the owner, and returns
// its name.
func (m *matrixBundle) customRole(t *testing.T) string {
	t.Helper()
	name := "custom" + m.unique()
	res := m.callAs(t, m.tokens[asOwner], http.MethodPost, "/v1/roles", "", "acme", map[string]any{"name": name, "permissions": []string{"projects:read"}})
	require.Equal(t, http.StatusCreated, res.status, string(res.body))
	return name
}

// routeKey names a route in the matrix: its operation id, or the pattern
// of an infrastructure route.
func routeKey(r httpapi.Route) string {
	if r.Infrastructure {
		return r.Pattern
	}
	return r.OperationID
}

// requests returns, for every route (by routeKey), how caller makes a
// request that succeeds when allowed. A route missing here fails the test.
func (m *matrixBundle) requests(t *testing.T) map[string]func(caller string) matrixRequest {
	t.Helper()
	owner := m.tokens[asOwner]
	get := func(path string, status int) func(string) matrixRequest {
		return func(string) matrixRequest { return matrixRequest{http.MethodGet, path, nil, status} }
	}
	return map[string]func(string) matrixRequest{
		"healthz": func(string) matrixRequest { return matrixRequest{http.MethodGet, "/healthz", nil, http.StatusOK} },
		"readyz":  func(string) matrixRequest { return matrixRequest{http.MethodGet, "/readyz", nil, http.StatusOK} },
		"sign-up": func(string) matrixRequest {
			return matrixRequest{http.MethodPost, "/v1/auth/signup", map[string]string{"email": "new" + m.unique() + "@example.com", "password": password, "name": "New"}, http.StatusCreated}
		},
		"login": func(string) matrixRequest {
			return matrixRequest{http.MethodPost, "/v1/auth/login", map[string]string{"email": "owner@example.com", "password": password}, http.StatusOK}
		},
		"logout": func(string) matrixRequest {
			return matrixRequest{http.MethodPost, "/v1/auth/logout", nil, http.StatusNoContent}
		},
		// The same password again: every caller keeps signing in with it.
		"change-password": func(string) matrixRequest {
			return matrixRequest{http.MethodPost, "/v1/auth/password", map[string]string{"current_password": password, "new_password": password}, http.StatusNoContent}
		},
		"password-reset": func(string) matrixRequest {
			return matrixRequest{http.MethodPost, "/v1/auth/password-reset", map[string]string{"email": "nobody@example.com"}, http.StatusAccepted}
		},
		// Tokens nobody was sent: the handler answers, whoever calls.
		"confirm-password-reset": func(string) matrixRequest {
			return matrixRequest{http.MethodPost, "/v1/auth/password-reset/confirm", map[string]string{"token": "pwr_AAAAAAAAAAAAAAAAAAAAAAAAAA", "password": password}, http.StatusNotFound}
		},
		"verify-email": func(string) matrixRequest {
			return matrixRequest{http.MethodPost, "/v1/auth/verify", map[string]string{"token": "ver_AAAAAAAAAAAAAAAAAAAAAAAAAA"}, http.StatusNotFound}
		},
		"resend-verification": func(string) matrixRequest {
			return matrixRequest{http.MethodPost, "/v1/auth/verify/resend", map[string]string{"email": "nobody@example.com"}, http.StatusAccepted}
		},
		"me": func(string) matrixRequest { return matrixRequest{http.MethodGet, "/v1/me", nil, http.StatusOK} },
		"create-tenant": func(string) matrixRequest {
			return matrixRequest{http.MethodPost, "/v1/tenants", map[string]string{"slug": "made-" + m.unique(), "name": "Made"}, http.StatusCreated}
		},
		"list-tenants": func(string) matrixRequest { return matrixRequest{http.MethodGet, "/v1/tenants", nil, http.StatusOK} },
		"rename-tenant": func(string) matrixRequest {
			return matrixRequest{http.MethodPatch, "/v1/tenants/acme", map[string]string{"name": "Acme " + m.unique()}, http.StatusOK}
		},
		// A tenant of its own for each caller, with the matrix's members of
		// acme in their roles.
		"delete-tenant": func(string) matrixRequest {
			slug := "doomed-" + m.unique()
			res := m.callAs(t, owner, http.MethodPost, "/v1/tenants", "", "", map[string]string{"slug": slug, "name": "Doomed"})
			require.Equal(t, http.StatusCreated, res.status, string(res.body))
			m.query(t, `INSERT INTO memberships (tenant_id, user_id, role)
				SELECT $1, user_id, role FROM memberships WHERE tenant_id = $2 AND role <> 'owner' RETURNING id::text`,
				decode[tenantJSON](t, res).ID, m.tenantID)
			return matrixRequest{http.MethodDelete, "/v1/tenants/" + slug, map[string]string{"confirm": slug}, http.StatusNoContent}
		},
		"accept-invitation": func(caller string) matrixRequest {
			token := "inv_AAAAAAAAAAAAAAAAAAAAAAAAAA"
			if email := m.emails[caller]; email != "" {
				m.invite(t, m.inviter, "invites", email, domain.RoleViewer)
				token = m.mail.lastInvitation(t, email)
			}
			return matrixRequest{http.MethodPost, "/v1/invitations/accept", map[string]string{"token": token}, http.StatusOK}
		},
		"list-members": func(string) matrixRequest { return matrixRequest{http.MethodGet, "/v1/members", nil, http.StatusOK} },
		"change-member-role": func(string) matrixRequest {
			id, _ := m.freshMember(t)
			return matrixRequest{http.MethodPatch, "/v1/members/" + id, map[string]string{"role": domain.RoleMember}, http.StatusOK}
		},
		"remove-member": func(string) matrixRequest {
			id, _ := m.freshMember(t)
			return matrixRequest{http.MethodDelete, "/v1/members/" + id, nil, http.StatusNoContent}
		},
		"invite": func(string) matrixRequest {
			return matrixRequest{http.MethodPost, "/v1/invitations", map[string]string{"email": "invited" + m.unique() + "@example.com", "role": domain.RoleViewer}, http.StatusCreated}
		},
		"list-invitations": get("/v1/invitations", http.StatusOK),
		"revoke-invitation": func(string) matrixRequest {
			res := m.callAs(t, owner, http.MethodPost, "/v1/invitations", "", "acme", map[string]string{"email": "revoked" + m.unique() + "@example.com", "role": domain.RoleViewer})
			require.Equal(t, http.StatusCreated, res.status, string(res.body))
			return matrixRequest{http.MethodDelete, "/v1/invitations/" + decode[pendingInvitationJSON](t, res).ID, nil, http.StatusNoContent}
		},
		"list-roles": func(string) matrixRequest { return matrixRequest{http.MethodGet, "/v1/roles", nil, http.StatusOK} },
		"update-role": func(string) matrixRequest {
			name := m.customRole(t)
			return matrixRequest{http.MethodPatch, "/v1/roles/" + name, map[string]any{"permissions": []string{"members:read"}}, http.StatusOK}
		},
		"delete-role": func(string) matrixRequest {
			return matrixRequest{http.MethodDelete, "/v1/roles/" + m.customRole(t), nil, http.StatusNoContent}
		},
		"create-role": func(string) matrixRequest {
			return matrixRequest{http.MethodPost, "/v1/roles", map[string]any{"name": "role" + m.unique(), "permissions": []string{"projects:read"}}, http.StatusCreated}
		},
		"list-grants": func(string) matrixRequest { return matrixRequest{http.MethodGet, "/v1/grants", nil, http.StatusOK} },
		"create-grant": func(string) matrixRequest {
			_, userID := m.freshMember(t)
			return matrixRequest{http.MethodPost, "/v1/grants", map[string]string{"permission": "projects:read", "object_id": m.project.ID, "user_id": userID}, http.StatusCreated}
		},
		"revoke-grant": func(string) matrixRequest {
			_, userID := m.freshMember(t)
			res := m.callAs(t, owner, http.MethodPost, "/v1/grants", "", "acme", map[string]string{"permission": "projects:read", "object_id": m.project.ID, "user_id": userID})
			require.Equal(t, http.StatusCreated, res.status, string(res.body))
			return matrixRequest{http.MethodDelete, "/v1/grants/" + decode[grantJSON](t, res).ID, nil, http.StatusNoContent}
		},
		"list-api-keys": func(string) matrixRequest { return matrixRequest{http.MethodGet, "/v1/api-keys", nil, http.StatusOK} },
		"create-api-key": func(string) matrixRequest {
			return matrixRequest{http.MethodPost, "/v1/api-keys", map[string]string{"name": "key", "role": domain.RoleViewer}, http.StatusCreated}
		},
		"revoke-api-key": func(string) matrixRequest {
			key := m.createAPIKey(t, owner, "acme", domain.RoleViewer)
			return matrixRequest{http.MethodDelete, "/v1/api-keys/" + key.ID, nil, http.StatusNoContent}
		},
		"list-audit-events": get("/v1/audit-events", http.StatusOK),

		// Resources (the sample projects, then those added with `saaskit add
		// resource`), below this line.

		"list-projects": get("/v1/projects", http.StatusOK),
		"create-project": func(string) matrixRequest {
			return matrixRequest{http.MethodPost, "/v1/projects", m.newProjectBody(t, "acme"), http.StatusCreated}
		},
		"get-project": func(string) matrixRequest {
			return matrixRequest{http.MethodGet, "/v1/projects/" + m.createProject(t, "acme").ID, nil, http.StatusOK}
		},
		"update-project": func(string) matrixRequest {
			return matrixRequest{http.MethodPatch, "/v1/projects/" + m.createProject(t, "acme").ID, map[string]any{}, http.StatusOK}
		},
		"delete-project": func(string) matrixRequest {
			return matrixRequest{http.MethodDelete, "/v1/projects/" + m.createProject(t, "acme").ID, nil, http.StatusNoContent}
		},

		"list-customers": get("/v1/customers", http.StatusOK),
		"create-customer": func(string) matrixRequest {
			return matrixRequest{http.MethodPost, "/v1/customers", m.newCustomerBody(t, "acme"), http.StatusCreated}
		},
		"get-customer": func(string) matrixRequest {
			return matrixRequest{http.MethodGet, "/v1/customers/" + m.createCustomer(t, "acme").ID, nil, http.StatusOK}
		},
		"update-customer": func(string) matrixRequest {
			return matrixRequest{http.MethodPatch, "/v1/customers/" + m.createCustomer(t, "acme").ID, map[string]any{}, http.StatusOK}
		},
		"delete-customer": func(string) matrixRequest {
			return matrixRequest{http.MethodDelete, "/v1/customers/" + m.createCustomer(t, "acme").ID, nil, http.StatusNoContent}
		},

		"list-invoices": get("/v1/invoices", http.StatusOK),
		"create-invoice": func(string) matrixRequest {
			return matrixRequest{http.MethodPost, "/v1/invoices", m.newInvoiceBody(t, "acme"), http.StatusCreated}
		},
		"get-invoice": func(string) matrixRequest {
			return matrixRequest{http.MethodGet, "/v1/invoices/" + m.createInvoice(t, "acme").ID, nil, http.StatusOK}
		},
		"update-invoice": func(string) matrixRequest {
			return matrixRequest{http.MethodPatch, "/v1/invoices/" + m.createInvoice(t, "acme").ID, map[string]any{}, http.StatusOK}
		},
		"delete-invoice": func(string) matrixRequest {
			return matrixRequest{http.MethodDelete, "/v1/invoices/" + m.createInvoice(t, "acme").ID, nil, http.StatusNoContent}
		},

		"GET /openapi.json":           get("/openapi.json", http.StatusOK),
		"GET /openapi-3.0.json":       get("/openapi-3.0.json", http.StatusOK),
		"GET /openapi.yaml":           get("/openapi.yaml", http.StatusOK),
		"GET /openapi-3.0.yaml":       get("/openapi-3.0.yaml", http.StatusOK),
		"GET /schemas/{schema}":       get("/schemas/ErrorModel.json", http.StatusOK),
		"GET /docs":                   get("/docs", http.StatusOK),
		"GET /docs/{version}/{asset}": get("/docs/0.0.0/swagger-ui.css", http.StatusNotFound),
		"GET /metrics":                get("/metrics", http.StatusOK),
		"/":                           get("/no/such/route", http.StatusNotFound),
	}
}

// tenantOf is the tenant a matrix request is for: the one its path names
// (/v1/tenants/{slug}), else acme.
func tenantOf(req matrixRequest) string {
	if rest, ok := strings.CutPrefix(req.path, "/v1/tenants/"); ok {
		return rest
	}
	return "acme"
}

// Every route of the registry against every kind of caller: each cell
// either succeeds or is refused with the status that says why (401 no
// valid credentials, 404 not a member, 403 a member without the
// permission). The superuser is a member of no tenant the matrix uses.
func TestRouteRoleMatrix(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	m := &matrixBundle{apiBundle: b, tokens: map[string]string{asOwner: b.token}, emails: map[string]string{asOwner: "owner@example.com"}}
	m.tenantID = b.createTenant(t, "acme").ID
	for _, role := range []string{domain.RoleAdmin, domain.RoleMember, domain.RoleViewer} {
		m.emails[role] = role + "@example.com"
		m.tokens[role] = b.join(t, b.token, "acme", m.emails[role], role)
	}
	m.tokens[asAPIKey] = b.createAPIKey(t, b.token, "acme", domain.RoleMember).Key
	m.emails[asOutsider] = "outsider@example.com"
	m.tokens[asOutsider] = b.signUpAndLogin(t, m.emails[asOutsider])
	res := b.callAs(t, m.tokens[asOutsider], http.MethodPost, "/v1/tenants", "", "", map[string]string{"slug": "globex", "name": "Globex"})
	require.Equal(t, http.StatusCreated, res.status)
	m.emails[asSuperuser] = "root@example.com"
	m.tokens[asSuperuser] = b.createSuperuser(t, m.emails[asSuperuser])
	m.inviter = b.signUpAndLogin(t, "inviter@example.com")
	res = b.callAs(t, m.inviter, http.MethodPost, "/v1/tenants", "", "", map[string]string{"slug": "invites", "name": "Invites"})
	require.Equal(t, http.StatusCreated, res.status)
	m.project = b.createProject(t, "acme")

	routes, err := httpapi.RegisteredRoutes(httpapi.Deps{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	requests := m.requests(t)
	for _, route := range routes {
		build, ok := requests[routeKey(route)]
		require.True(t, ok, "the matrix has no request for %s: add one", routeKey(route))
		if route.Auth == "tenant" {
			_, ok := allowedBy[route.Permission]
			require.True(t, ok, "the matrix does not say who holds %s (%s %s)", route.Permission, route.Method, route.Path)
		}
		for _, caller := range matrixCallers {
			req := build(caller)
			token := m.tokens[caller]
			if route.OperationID == "logout" && m.emails[caller] != "" {
				token = b.login(t, m.emails[caller]) // logging out must not end the matrix's session
			}
			want := req.status
			switch {
			case route.Auth == "anyone":
			case route.Auth == "operator": // the matrix's server has no METRICS_TOKEN (TestMetricsToken sets one)
			case route.Auth == "stripe": // the signature is the credential
			case caller == asAnonymous:
				want = http.StatusUnauthorized
			case route.Auth == "user" && caller == asAPIKey:
				want = http.StatusUnauthorized
			case route.Auth == "tenant" && route.KeysRefused && caller == asAPIKey:
				want = http.StatusUnauthorized
			case route.Auth == "tenant" && caller == asOutsider:
				want = http.StatusNotFound
			case route.Auth == "tenant" && !slices.Contains(allowedBy[route.Permission], caller):
				want = http.StatusForbidden
			case route.Auth == "tenant" && caller == asSuperuser && refusedToSuperusers[route.OperationID] != 0:
				want = refusedToSuperusers[route.OperationID]
			}
			tenant := tenantOf(req)
			res := b.callAs(t, token, req.method, req.path, "", tenant, req.body)
			require.Equal(t, want, res.status, "%s %s as %s: %s", route.Method, route.Path, caller, res.body)
			if want == http.StatusNotFound && route.Auth == "tenant" {
				require.Contains(t, string(res.body), `no tenant \"`+tenant+`\"`, "the answer for a tenant that does not exist")
			}
		}
	}
	require.Len(t, requests, len(routes), "every request of the matrix is for a registered route")
}

// The registry is the whole server: every route, operation or not,
// declares a policy (the server does not start with one that does not),
// and the public ones are exactly these.
func TestEveryRouteDeclaresWhoMayCallIt(t *testing.T) {
	t.Parallel()
	routes, err := httpapi.RegisteredRoutes(httpapi.Deps{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	var public, operator []string
	for _, r := range routes {
		require.Contains(t, []string{"anyone", "user", "tenant", "operator"}, r.Auth, r.Pattern)
		switch r.Auth {
		case "anyone":
			public = append(public, routeKey(r))
		case "operator":
			operator = append(operator, routeKey(r))
		case "tenant":
			require.True(t, domain.KnownPermission(r.Permission), "%s needs %q", r.Pattern, r.Permission)
		}
		require.Equal(t, r.Infrastructure, r.OperationID == "", "%s: API operations have an id, infrastructure routes none", r.Pattern)
	}
	require.ElementsMatch(t, []string{
		"healthz", "readyz", "sign-up", "login",
		"password-reset", "confirm-password-reset", "verify-email", "resend-verification",
		"GET /openapi.json", "GET /openapi-3.0.json", "GET /openapi.yaml", "GET /openapi-3.0.yaml", "GET /schemas/{schema}", "GET /docs", "GET /docs/{version}/{asset}", "/",
	}, public)
	require.Equal(t, []string{"GET /metrics"}, operator)
}

// Credentials in the query string are refused on every route of the
// registry, operations and infrastructure alike, before anything else.
func TestQueryCredentialsAreRefusedOnEveryRoute(t *testing.T) {
	t.Parallel()
	deps := httpapi.Deps{Logger: slog.New(slog.DiscardHandler), Version: "test", MetricsToken: "0123456789abcdef0123456789abcdef"}
	routes, err := httpapi.RegisteredRoutes(deps)
	require.NoError(t, err)
	handler, err := httpapi.NewHandler(deps)
	require.NoError(t, err)
	b := &testBundle{handler: handler}
	for _, r := range routes {
		method, path := r.Method, strings.ReplaceAll(r.Path, "{id}", "00000000-0000-0000-0000-000000000001")
		path = strings.ReplaceAll(path, "{schema}", "ErrorModel.json")
		if method == "" {
			method, path = http.MethodGet, "/no/such/route"
		}
		for _, query := range []string{"?access_token=x", "?Token=x", "?q=ak_AAAAAAAAAAAAAAAAAAAAAAAAAA"} {
			res := b.do(t, method, path+query, map[string]string{"Authorization": "Bearer " + deps.MetricsToken})
			require.Equal(t, http.StatusBadRequest, res.status, "%s %s%s: %s", method, path, query, res.body)
			require.Equal(t, "application/problem+json", res.header.Get("Content-Type"))
			require.Contains(t, string(res.body), "never accepted in the query string")
		}
		res := b.do(t, method, path+"?limit=5", nil)
		require.NotContains(t, string(res.body), "never accepted in the query string", "%s %s: an ordinary query is not refused", method, path)
	}
}

package httpapi

import (
	"github.com/danielgtaylor/huma/v2"

	"example.com/acme/internal/domain"
)

// addRoutes registers every route of the API, one line each: method, path,
// the guard saying who may call it (see policy.go: anyone(), signedIn(),
// requires(permission), requiresOn(permission, "id"), requiresIn(permission,
// "slug") for a route whose path names the tenant, metricsToken(token);
// with billing, entitled(feature, ...) and limited(limit, ...) add what the
// tenant's plan must grant, see billing.go)
// and the handler, whose maker describes the operation for the OpenAPI
// document. Tenant-scoped routes run authentication, tenant resolution and
// the permission check, in that order, before their input is read. huma
// itself serves the OpenAPI document (GET /openapi.json, /openapi.yaml), its
// JSON schemas (GET /schemas/...); those, the docs page (GET /docs, see
// docs.go) and the routes outside the API's operations are declared at the
// end. A route
// without a guard stops the server from starting.
func addRoutes(r *router, m *metrics) {
	deps := r.deps

	r.get("/healthz", anyone(), handleHealthz())
	r.get("/readyz", anyone(), handleReadyz(deps.Logger, deps.Checks))

	r.post("/v1/auth/signup", anyone(), handleSignUp(deps.Identity))
	r.post("/v1/auth/login", anyone(), handleLogin(deps.Identity))
	r.post("/v1/auth/logout", signedIn(), handleLogout(deps.Identity))
	r.post("/v1/auth/password", signedIn(), handleChangePassword(deps.Identity))
	r.post("/v1/auth/password-reset", anyone(), handlePasswordReset(deps.Identity))
	r.post("/v1/auth/password-reset/confirm", anyone(), handleConfirmPasswordReset(deps.Identity))
	r.post("/v1/auth/verify", anyone(), handleVerifyEmail(deps.Identity))
	r.post("/v1/auth/verify/resend", anyone(), handleResendVerification(deps.Identity))
	r.get("/v1/me", signedIn(), handleMe(deps.Identity))

	r.post("/v1/tenants", signedIn(), handleCreateTenant(deps.Tenants))
	r.get("/v1/tenants", signedIn(), handleListTenants(deps.Identity))
	r.patch("/v1/tenants/{slug}", requiresIn(domain.TenantWrite, "slug"), handleRenameTenant(deps.Tenants))
	r.delete("/v1/tenants/{slug}", requiresIn(domain.TenantDelete, "slug").sessionsOnly(), handleDeleteTenant(deps.Tenants))
	r.post("/v1/invitations/accept", signedIn(), handleAcceptInvitation(deps.Identity))

	r.get("/v1/members", requires(domain.MembersRead), handleListMembers(deps.Identity))
	r.patch("/v1/members/{id}", requires(domain.MembersWrite), handleChangeRole(deps.Identity))
	r.delete("/v1/members/{id}", requires(domain.MembersWrite), handleRemoveMember(deps.Identity))
	r.post("/v1/invitations", requires(domain.InvitationsWrite), handleInvite(deps.Identity))
	r.get("/v1/invitations", requires(domain.InvitationsRead), handleListInvitations(deps.Identity))
	r.delete("/v1/invitations/{id}", requires(domain.InvitationsWrite), handleRevokeInvitation(deps.Identity))

	r.get("/v1/roles", requires(domain.RolesRead), handleListRoles(deps.Identity))
	r.post("/v1/roles", requires(domain.RolesWrite), handleCreateRole(deps.Identity))
	r.patch("/v1/roles/{name}", requires(domain.RolesWrite), handleUpdateRole(deps.Identity))
	r.delete("/v1/roles/{name}", requires(domain.RolesWrite), handleDeleteRole(deps.Identity))
	r.get("/v1/grants", requires(domain.GrantsRead), handleListGrants(deps.Identity))
	r.post("/v1/grants", requires(domain.GrantsWrite), handleCreateGrant(r, deps.Identity))
	r.delete("/v1/grants/{id}", requires(domain.GrantsWrite), handleRevokeGrant(deps.Identity))

	r.get("/v1/api-keys", requires(domain.APIKeysRead), handleListAPIKeys(deps.Identity))
	r.post("/v1/api-keys", entitled("api_keys", requires(domain.APIKeysWrite)), handleCreateAPIKey(deps.Identity))
	r.delete("/v1/api-keys/{id}", requires(domain.APIKeysWrite), handleRevokeAPIKey(deps.Identity))

	r.get("/v1/audit-events", requires(domain.AuditRead), handleListAuditEvents(deps.Audit))

	// Resources are registered below this line: the sample projects, then
	// those added with `saaskit add resource` in the order they were added;
	// keep the line so later ones land here.
	r.get("/v1/projects", requires(domain.ProjectsRead), handleListProjects(deps.Tenants))
	r.post("/v1/projects", limited("projects", requires(domain.ProjectsWrite)), handleCreateProject(deps.Tenants))
	r.get("/v1/projects/{id}", requiresOn(domain.ProjectsRead, "id"), handleGetProject(deps.Tenants))
	r.patch("/v1/projects/{id}", requiresOn(domain.ProjectsWrite, "id"), handleUpdateProject(deps.Tenants))
	r.delete("/v1/projects/{id}", requiresOn(domain.ProjectsDelete, "id"), handleDeleteProject(deps.Tenants))
	r.findObjects("projects", findProject(deps.Tenants))
	r.get("/v1/customers", requires(domain.CustomersRead), handleListCustomers(deps.Tenants))
	r.post("/v1/customers", requires(domain.CustomersWrite), handleCreateCustomer(deps.Tenants))
	r.get("/v1/customers/{id}", requiresOn(domain.CustomersRead, "id"), handleGetCustomer(deps.Tenants))
	r.patch("/v1/customers/{id}", requiresOn(domain.CustomersWrite, "id"), handleUpdateCustomer(deps.Tenants))
	r.delete("/v1/customers/{id}", requiresOn(domain.CustomersDelete, "id"), handleDeleteCustomer(deps.Tenants))
	r.findObjects("customers", findCustomer(deps.Tenants))
	r.get("/v1/invoices", requires(domain.InvoicesRead), handleListInvoices(deps.Tenants))
	r.post("/v1/invoices", requires(domain.InvoicesWrite), handleCreateInvoice(deps.Tenants))
	r.get("/v1/invoices/{id}", requiresOn(domain.InvoicesRead, "id"), handleGetInvoice(deps.Tenants))
	r.patch("/v1/invoices/{id}", requiresOn(domain.InvoicesWrite, "id"), handleUpdateInvoice(deps.Tenants))
	r.delete("/v1/invoices/{id}", requiresOn(domain.InvoicesDelete, "id"), handleDeleteInvoice(deps.Tenants))
	r.findObjects("invoices", findInvoice(deps.Tenants))

	// huma serves the OpenAPI document (3.1 and 3.0, JSON and YAML) and its
	// JSON schemas; the docs page and its embedded viewer are the app's own.
	// All public, like the API they describe.
	for _, pattern := range []string{
		"GET /openapi.json", "GET /openapi-3.0.json", "GET /openapi.yaml", "GET /openapi-3.0.yaml",
		"GET /schemas/{schema}",
	} {
		r.servedByHuma(pattern, anyone())
	}
	viewer := loadDocsViewer()
	r.mount("GET /docs", anyone(), handleDocs(r.api.OpenAPI().Info.Title, viewer))
	r.mount("GET /docs/{version}/{asset}", anyone(), handleDocsAsset(viewer))
	r.mount("GET /metrics", metricsToken(deps.MetricsToken), m.handler())
	r.mount("/", anyone(), handleNotFound(r.mux.ServeMux))
}

// throttledResponses documents the answer of throttled operations.
func throttledResponses() map[string]*huma.Response {
	return map[string]*huma.Response{
		"429": {
			Description: "Too many attempts for this account or from this address",
			Headers:     map[string]*huma.Param{"Retry-After": {Description: "Seconds to wait", Schema: &huma.Schema{Type: "integer"}}},
		},
	}
}

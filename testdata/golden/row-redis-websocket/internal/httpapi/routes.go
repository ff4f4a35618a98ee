package httpapi

import (
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/acme/shop-api/internal/domain"
)

// addRoutes registers every route of the API. huma itself serves the OpenAPI
// document (GET /openapi.json, /openapi.yaml), its JSON schemas (GET
// /schemas/...) and the docs (GET /docs).
//
// Every operation declares who may call it as the argument after the
// operation (see policy.go): anyone(), signedIn(), requires(permission) or
// requiresOn(permission, "id"). Tenant-scoped operations then run
// authentication, tenant resolution and the permission check, in that
// order, before their input is read. Routes outside the API's operations
// are declared at the end. A route without a declaration stops the server
// from starting.
func addRoutes(r *router, m *metrics) {
	deps := r.deps

	handle(r, huma.Operation{
		OperationID: "healthz", Method: http.MethodGet, Path: "/healthz",
		Summary: "Liveness: the process is up", Tags: []string{"Operations"},
	}, anyone(), handleHealthz())
	handle(r, huma.Operation{
		OperationID: "readyz", Method: http.MethodGet, Path: "/readyz",
		Summary: "Readiness: the database and broker are reachable", Tags: []string{"Operations"},
		Responses: map[string]*huma.Response{"503": {Description: "A dependency is unreachable"}},
	}, anyone(), handleReadyz(deps.Logger, deps.Checks))

	handle(r, huma.Operation{
		OperationID: "sign-up", Method: http.MethodPost, Path: "/v1/auth/signup", DefaultStatus: http.StatusCreated,
		Summary: "Create an account (the same answer whether or not the email has one)", Tags: []string{"Identity"},
		Responses: throttledResponses(),
	}, anyone(), handleSignUp(deps.Identity))
	handle(r, huma.Operation{
		OperationID: "login", Method: http.MethodPost, Path: "/v1/auth/login",
		Summary: "Sign in: a new bearer token", Tags: []string{"Identity"},
		Responses: throttledResponses(),
	}, anyone(), handleLogin(deps.Identity))
	handle(r, huma.Operation{
		OperationID: "logout", Method: http.MethodPost, Path: "/v1/auth/logout", DefaultStatus: http.StatusNoContent,
		Summary: "Sign out: the token stops working", Tags: []string{"Identity"},
	}, signedIn(), handleLogout(deps.Identity))
	handle(r, huma.Operation{
		OperationID: "me", Method: http.MethodGet, Path: "/v1/me",
		Summary: "The signed-in user and their tenants", Tags: []string{"Identity"},
	}, signedIn(), handleMe(deps.Identity))

	handle(r, huma.Operation{
		OperationID: "create-tenant", Method: http.MethodPost, Path: "/v1/tenants", DefaultStatus: http.StatusCreated,
		Summary: "Create a tenant owned by the caller: its storage is provisioned and migrated before the answer", Tags: []string{"Tenants"},
	}, signedIn(), handleCreateTenant(deps.Tenants))
	handle(r, huma.Operation{
		OperationID: "list-tenants", Method: http.MethodGet, Path: "/v1/tenants",
		Summary: "List the caller's tenants", Tags: []string{"Tenants"},
	}, signedIn(), handleListTenants(deps.Identity))
	handle(r, huma.Operation{
		OperationID: "accept-invitation", Method: http.MethodPost, Path: "/v1/invitations/accept",
		Summary: "Join a tenant by the token of an invitation sent to the caller's email", Tags: []string{"Members"},
	}, signedIn(), handleAcceptInvitation(deps.Identity))

	handle(r, huma.Operation{
		OperationID: "list-members", Method: http.MethodGet, Path: "/v1/members",
		Summary: "List the tenant's members", Tags: []string{"Members"},
	}, requires(domain.MembersRead), withAccess(handleListMembers(deps.Identity)))
	handle(r, huma.Operation{
		OperationID: "change-member-role", Method: http.MethodPatch, Path: "/v1/members/{id}",
		Summary: "Change a member's role", Tags: []string{"Members"},
		Responses: map[string]*huma.Response{"409": {Description: "The tenant's last owner cannot be demoted"}},
	}, requires(domain.MembersWrite), withAccess(handleChangeRole(deps.Identity)))
	handle(r, huma.Operation{
		OperationID: "remove-member", Method: http.MethodDelete, Path: "/v1/members/{id}", DefaultStatus: http.StatusNoContent,
		Summary: "Remove a member, with their object grants and API keys", Tags: []string{"Members"},
		Responses: map[string]*huma.Response{"409": {Description: "The tenant's last owner cannot be removed"}},
	}, requires(domain.MembersWrite), withAccess(handleRemoveMember(deps.Identity)))
	handle(r, huma.Operation{
		OperationID: "invite", Method: http.MethodPost, Path: "/v1/invitations", DefaultStatus: http.StatusCreated,
		Summary: "Invite someone by email to a role within the caller's own permissions", Tags: []string{"Members"},
	}, requires(domain.InvitationsWrite), withAccess(handleInvite(deps.Identity)))

	handle(r, huma.Operation{
		OperationID: "list-roles", Method: http.MethodGet, Path: "/v1/roles",
		Summary: "List the tenant's roles and their permissions", Tags: []string{"Roles and grants"},
	}, requires(domain.RolesRead), withAccess(handleListRoles(deps.Identity)))
	handle(r, huma.Operation{
		OperationID: "create-role", Method: http.MethodPost, Path: "/v1/roles", DefaultStatus: http.StatusCreated,
		Summary: "Create a custom role from permissions the caller holds", Tags: []string{"Roles and grants"},
	}, requires(domain.RolesWrite), withAccess(handleCreateRole(deps.Identity)))
	handle(r, huma.Operation{
		OperationID: "list-grants", Method: http.MethodGet, Path: "/v1/grants",
		Summary: "List the tenant's object grants", Tags: []string{"Roles and grants"},
	}, requires(domain.GrantsRead), withAccess(handleListGrants(deps.Identity)))
	handle(r, huma.Operation{
		OperationID: "create-grant", Method: http.MethodPost, Path: "/v1/grants", DefaultStatus: http.StatusCreated,
		Summary: "Grant a permission on one object to a member or a role", Tags: []string{"Roles and grants"},
	}, requires(domain.GrantsWrite), withAccess(handleCreateGrant(r, deps.Identity)))
	handle(r, huma.Operation{
		OperationID: "revoke-grant", Method: http.MethodDelete, Path: "/v1/grants/{id}", DefaultStatus: http.StatusNoContent,
		Summary: "Revoke an object grant", Tags: []string{"Roles and grants"},
	}, requires(domain.GrantsWrite), withAccess(handleRevokeGrant(deps.Identity)))

	handle(r, huma.Operation{
		OperationID: "list-api-keys", Method: http.MethodGet, Path: "/v1/api-keys",
		Summary: "List the tenant's API keys (never their secrets)", Tags: []string{"API keys"},
	}, requires(domain.APIKeysRead), withAccess(handleListAPIKeys(deps.Identity)))
	handle(r, huma.Operation{
		OperationID: "create-api-key", Method: http.MethodPost, Path: "/v1/api-keys", DefaultStatus: http.StatusCreated,
		Summary: "Create an API key; its secret is in this answer only", Tags: []string{"API keys"},
	}, requires(domain.APIKeysWrite), withAccess(handleCreateAPIKey(deps.Identity)))
	handle(r, huma.Operation{
		OperationID: "revoke-api-key", Method: http.MethodDelete, Path: "/v1/api-keys/{id}", DefaultStatus: http.StatusNoContent,
		Summary: "Revoke an API key", Tags: []string{"API keys"},
	}, requires(domain.APIKeysWrite), withAccess(handleRevokeAPIKey(deps.Identity)))

	handle(r, huma.Operation{
		OperationID: "list-projects", Method: http.MethodGet, Path: "/v1/projects",
		Summary: "List the tenant's projects", Tags: []string{"Projects"},
	}, requires(domain.ProjectsRead), tenantScoped(handleListProjects(deps.Tenants)))
	handle(r, huma.Operation{
		OperationID: "create-project", Method: http.MethodPost, Path: "/v1/projects", DefaultStatus: http.StatusCreated,
		Summary: "Create a project in the tenant", Tags: []string{"Projects"},
	}, requires(domain.ProjectsWrite), tenantScoped(handleCreateProject(deps.Tenants)))
	handle(r, huma.Operation{
		OperationID: "get-project", Method: http.MethodGet, Path: "/v1/projects/{id}",
		Summary: "Get one of the tenant's projects", Tags: []string{"Projects"},
	}, requiresOn(domain.ProjectsRead, "id"), tenantScoped(handleGetProject(deps.Tenants)))
	r.findObjects("projects", findProject(deps.Tenants))

	// huma serves the OpenAPI document (3.1 and 3.0, JSON and YAML), its
	// JSON schemas and the docs page itself: public, like the API they
	// describe.
	for _, pattern := range []string{
		"GET /openapi.json", "GET /openapi-3.0.json", "GET /openapi.yaml", "GET /openapi-3.0.yaml",
		"GET /schemas/{schema}", "GET /docs",
	} {
		r.servedByHuma(pattern, anyone())
	}
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

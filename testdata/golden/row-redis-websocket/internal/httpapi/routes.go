package httpapi

import (
	"net/http"

	"github.com/danielgtaylor/huma/v2"
)

// addRoutes registers every route of the API. huma itself serves the OpenAPI
// document (GET /openapi.json, /openapi.yaml), its JSON schemas (GET
// /schemas/...) and the docs (GET /docs).
//
// Tenant-scoped operations list their middleware in order: tenant first
// (resolved before anything else), then, as the API grows, authentication
// and the permission the operation needs.
func addRoutes(mux *http.ServeMux, api huma.API, deps Deps, m *metrics) {
	tenant := requireTenant(api, deps.Logger, deps.BaseDomain, deps.Tenants)

	register(api, deps.Logger, huma.Operation{
		OperationID: "healthz", Method: http.MethodGet, Path: "/healthz",
		Summary: "Liveness: the process is up", Tags: []string{"Operations"},
	}, handleHealthz())
	register(api, deps.Logger, huma.Operation{
		OperationID: "readyz", Method: http.MethodGet, Path: "/readyz",
		Summary: "Readiness: the database and broker are reachable", Tags: []string{"Operations"},
		Responses: map[string]*huma.Response{"503": {Description: "A dependency is unreachable"}},
	}, handleReadyz(deps.Logger, deps.Checks))

	register(api, deps.Logger, huma.Operation{
		OperationID: "create-tenant", Method: http.MethodPost, Path: "/v1/tenants", DefaultStatus: http.StatusCreated,
		Summary: "Create a tenant: its storage is provisioned and migrated before the answer", Tags: []string{"Tenants"},
	}, handleCreateTenant(deps.Tenants))
	register(api, deps.Logger, huma.Operation{
		OperationID: "list-tenants", Method: http.MethodGet, Path: "/v1/tenants",
		Summary: "List the tenants", Tags: []string{"Tenants"},
	}, handleListTenants(deps.Tenants))

	register(api, deps.Logger, huma.Operation{
		OperationID: "list-projects", Method: http.MethodGet, Path: "/v1/projects",
		Summary: "List the tenant's projects", Tags: []string{"Projects"}, Responses: tenantResponses(),
		Middlewares: huma.Middlewares{tenant},
	}, tenantScoped(handleListProjects(deps.Tenants)))
	register(api, deps.Logger, huma.Operation{
		OperationID: "create-project", Method: http.MethodPost, Path: "/v1/projects", DefaultStatus: http.StatusCreated,
		Summary: "Create a project in the tenant", Tags: []string{"Projects"}, Responses: tenantResponses(),
		Middlewares: huma.Middlewares{tenant},
	}, tenantScoped(handleCreateProject(deps.Tenants)))
	register(api, deps.Logger, huma.Operation{
		OperationID: "get-project", Method: http.MethodGet, Path: "/v1/projects/{id}",
		Summary: "Get one of the tenant's projects", Tags: []string{"Projects"}, Responses: tenantResponses(),
		Middlewares: huma.Middlewares{tenant},
	}, tenantScoped(handleGetProject(deps.Tenants)))

	mux.Handle("GET /metrics", m.handler())
	mux.Handle("/", handleNotFound(mux))
}

package httpapi

import (
	"net/http"

	"github.com/danielgtaylor/huma/v2"
)

// addRoutes registers every route of the API. huma itself serves the OpenAPI
// document (GET /openapi.json, /openapi.yaml), its JSON schemas (GET
// /schemas/...) and the docs (GET /docs).
func addRoutes(mux *http.ServeMux, api huma.API, deps Deps, m *metrics) {
	register(api, deps.Logger, huma.Operation{
		OperationID: "healthz", Method: http.MethodGet, Path: "/healthz",
		Summary: "Liveness: the process is up", Tags: []string{"Operations"},
	}, handleHealthz())
	register(api, deps.Logger, huma.Operation{
		OperationID: "readyz", Method: http.MethodGet, Path: "/readyz",
		Summary: "Readiness: the database and broker are reachable", Tags: []string{"Operations"},
		Responses: map[string]*huma.Response{"503": {Description: "A dependency is unreachable"}},
	}, handleReadyz(deps.Logger, deps.Checks))
	mux.Handle("GET /metrics", m.handler())
	mux.Handle("/", handleNotFound(mux))
}

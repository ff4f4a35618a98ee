package httpapi

import (
	"fmt"
	"net/http"

	"example.com/acme/internal/domain"
)

// RegisteredRoutes returns every operation NewHandler registers, with what
// it requires.
func RegisteredRoutes(deps Deps) ([]Route, error) {
	var routes []Route
	_, err := newHandler(deps, func(r *router, m *metrics) {
		addRoutes(r, m)
		routes = r.routes
	})
	return routes, err
}

// NewHandlerWithRawRoute is NewHandler plus GET /v1/raw: a plain
// http.Handler, as a websocket upgrade is, mounted behind requires(p). It
// answers with the tenant and role its guard handed it.
func NewHandlerWithRawRoute(deps Deps, p domain.Permission) (http.Handler, error) {
	return newHandler(deps, func(r *router, m *metrics) {
		r.mount("GET /v1/raw", requires(p), http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			a, ok := req.Context().Value(accessKey{}).(domain.Access)
			if !ok {
				http.Error(w, "no access in the context", http.StatusInternalServerError)
				return
			}
			_, _ = fmt.Fprintf(w, "%s %s", a.Tenant.Slug, a.Role)
		}))
		addRoutes(r, m)
	})
}

package httpapi

import "net/http"

// RegisteredRoutes returns every operation NewHandler registers, with what
// it requires.
func RegisteredRoutes(deps Deps) ([]Route, error) {
	var routes []Route
	_, err := newHandler(deps, func(mux *http.ServeMux, r *router, m *metrics) {
		addRoutes(mux, r, m)
		routes = r.routes
	})
	return routes, err
}

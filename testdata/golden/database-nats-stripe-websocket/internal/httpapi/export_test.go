package httpapi

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

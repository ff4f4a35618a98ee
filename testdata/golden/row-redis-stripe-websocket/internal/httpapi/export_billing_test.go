package httpapi

import (
	"fmt"
	"net/http"

	"github.com/acme/shop-api/internal/domain"
)

// NewHandlerWithEntitledRoute is NewHandler plus GET /v1/entitled, behind
// entitled(feature, requires(p)); it answers with the tenant's slug.
func NewHandlerWithEntitledRoute(deps Deps, feature string, p domain.Permission) (http.Handler, error) {
	return newHandler(deps, func(r *router, m *metrics) {
		r.mount("GET /v1/entitled", entitled(feature, requires(p)), http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			t, _ := req.Context().Value(tenantKey{}).(domain.Tenant)
			_, _ = fmt.Fprint(w, t.Slug)
		}))
		addRoutes(r, m)
	})
}

package httpapi_test

import (
	"log/slog"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"example.com/acme/internal/domain"
	"example.com/acme/internal/httpapi"
	"example.com/acme/internal/logging"
)

// A plain handler mounted outside the API's operations (a websocket
// upgrade, a webhook) takes the same guards: here requires(projects:write)
// authenticates, resolves the tenant and checks the permission before the
// handler runs, and hands it the caller's access.
func TestRawRouteIsTenantAndPermissionGuarded(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	b.createTenant(t, "acme")
	viewer := b.join(t, b.token, "acme", "viewer@example.com", domain.RoleViewer)
	outsider := b.signUpAndLogin(t, "outsider@example.com")
	handler, err := httpapi.NewHandlerWithRawRoute(httpapi.Deps{
		Logger:     logging.New(b.logs, slog.LevelDebug, logging.JSON),
		Version:    "test",
		BaseDomain: baseDomain,
		Tenants:    b.tenants,
		Identity:   b.identity,
	}, domain.ProjectsWrite)
	require.NoError(t, err)
	b.handler = handler

	res := b.callAs(t, b.token, http.MethodGet, "/v1/raw", "", "acme", nil)
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	require.Equal(t, "acme owner", string(res.body), "the handler gets the access the guard established")

	res = b.callAs(t, b.token, http.MethodGet, "/v1/raw", "acme."+baseDomain, "", nil)
	require.Equal(t, http.StatusOK, res.status, "the tenant comes from the subdomain too: %s", res.body)

	for name, tc := range map[string]struct {
		token, tenant string
		status        int
	}{
		"anonymous":              {"", "acme", http.StatusUnauthorized},
		"a bad token":            {"st_AAAAAAAAAAAAAAAAAAAAAAAAAA", "acme", http.StatusUnauthorized},
		"no tenant":              {b.token, "", http.StatusBadRequest},
		"an unknown tenant":      {b.token, "globex", http.StatusNotFound},
		"not a member":           {outsider, "acme", http.StatusNotFound},
		"without the permission": {viewer, "acme", http.StatusForbidden},
	} {
		got := b.callAs(t, tc.token, http.MethodGet, "/v1/raw", "", tc.tenant, nil)
		require.Equal(t, tc.status, got.status, "%s: %s", name, got.body)
		require.Equal(t, "application/problem+json", got.header.Get("Content-Type"), name)
	}

	res = b.callAs(t, b.token, http.MethodGet, "/v1/raw?access_token=x", "", "acme", nil)
	require.Equal(t, http.StatusBadRequest, res.status, "query-string credentials are refused here too")
}

package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"ledger.internal/svc/internal/config"
	"ledger.internal/svc/internal/domain"
	"ledger.internal/svc/internal/postgres"
	"ledger.internal/svc/internal/testsvc"
)

// secondInstance serves the API a second time over b's database, as a
// second process would: its own tenant registry (and resolve cache), its
// own identity service, signed in with b's token.
func (b *apiBundle) secondInstance(t *testing.T, cfg config.Database) *apiBundle {
	t.Helper()
	tenants, err := postgres.OpenTenants(t.Context(), cfg, postgres.TenantsOptions{AppName: "test-two"})
	require.NoError(t, err)
	t.Cleanup(tenants.Close)
	two := serveAPI(t, cfg, tenants, bundleOptions{})
	two.token = b.token
	return two
}

// Every revocation takes effect on the very next request, on every
// instance. Two instances share the database, each with its own tenant
// cache; a change made through one is refused by the other's next request,
// with no waiting. Sessions, keys, memberships and roles are read on every
// request. The tenant is cached, so its suspension is made here without
// the notification that clears the caches: the statement that
// authenticates a request, or reads the caller's membership, still sees
// it, on both instances.
func TestRevocationsReachTheNextRequestOnEveryInstance(t *testing.T) {
	t.Parallel()
	cfg := testsvc.NewTenancyConfig(t)
	one, _ := setupAPIOn(t, cfg, bundleOptions{})
	two := one.secondInstance(t, cfg)
	one.createTenant(t, "acme")
	one.createNamedProject(t, "acme", "launch")
	res := one.call(t, http.MethodPost, "/v1/roles", "", "acme", map[string]any{"name": "outsider", "permissions": []string{"members:read"}})
	require.Equal(t, http.StatusCreated, res.status, string(res.body))
	leaver := one.join(t, one.token, "acme", "leaver@example.com", domain.RoleMember)
	demoted := one.join(t, one.token, "acme", "demoted@example.com", domain.RoleMember)
	loggedOut := one.join(t, one.token, "acme", "out@example.com", domain.RoleMember)
	revokedKey := one.createAPIKey(t, one.token, "acme", domain.RoleMember)
	key := one.createAPIKey(t, one.token, "acme", domain.RoleMember)
	members := one.members(t, one.token, "acme")

	list := func(in *apiBundle, token string) response {
		return in.callAs(t, token, http.MethodGet, "/v1/projects", "", "acme", nil)
	}
	for _, token := range []string{one.token, leaver, demoted, loggedOut, revokedKey.Key, key.Key} {
		res := list(two, token)
		require.Equal(t, http.StatusOK, res.status, "before: %s", res.body)
	}

	for _, c := range []struct {
		name   string
		token  string
		revoke func() response
		status int
	}{
		{"member removed", leaver, func() response {
			return one.call(t, http.MethodDelete, "/v1/members/"+members["leaver@example.com"].ID, "", "acme", nil)
		}, http.StatusNotFound},
		{"role lowered", demoted, func() response {
			return one.call(t, http.MethodPatch, "/v1/members/"+members["demoted@example.com"].ID, "", "acme", map[string]string{"role": "outsider"})
		}, http.StatusForbidden},
		{"logged out", loggedOut, func() response {
			return one.callAs(t, loggedOut, http.MethodPost, "/v1/auth/logout", "", "", nil)
		}, http.StatusUnauthorized},
		{"API key revoked", revokedKey.Key, func() response {
			return one.call(t, http.MethodDelete, "/v1/api-keys/"+revokedKey.ID, "", "acme", nil)
		}, http.StatusUnauthorized},
	} {
		res := c.revoke()
		require.Less(t, res.status, 300, "%s: %s", c.name, res.body)
		res = list(two, c.token)
		require.Equal(t, c.status, res.status, "%s, the other instance's next request: %s", c.name, res.body)
	}
	require.Equal(t, http.StatusOK, list(two, one.token).status, "the owner keeps access")
	require.Equal(t, http.StatusOK, list(two, key.Key).status, "so does the key not revoked")

	testsvc.SuspendUnheard(t, cfg, "acme")
	// A route that names the tenant only in its path reads the membership
	// apart from the session: refused alike, so the owner of a suspended
	// tenant cannot delete it through an instance that has not heard.
	deleted := two.call(t, http.MethodDelete, "/v1/tenants/acme", "", "", map[string]string{"confirm": "acme"})
	requireProblem(t, deleted, http.StatusNotFound, `no tenant "acme"`)
	unknown := two.callAs(t, one.token, http.MethodGet, "/v1/projects", "", "globex", nil)
	for _, in := range []*apiBundle{one, two} {
		for _, token := range []string{one.token, key.Key} {
			res := list(in, token)
			requireProblem(t, res, http.StatusNotFound, `no tenant "acme"`)
			if token == one.token {
				require.Equal(t, strings.ReplaceAll(string(unknown.body), "globex", "acme"), string(res.body), "as a tenant never made")
			}
		}
	}
}

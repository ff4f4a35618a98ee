package httpapi_test

import (
	"cmp"
	"net/http"
	"slices"
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
	// Twice each: the second request remembers a session (checked.go), so
	// the requests after the changes start from memory.
	for range 2 {
		for _, token := range []string{one.token, leaver, demoted, loggedOut, revokedKey.Key, key.Key} {
			res := list(two, token)
			require.Equal(t, http.StatusOK, res.status, "before: %s", res.body)
		}
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

// A GET by a session remembered in its tenant, or by an API key
// remembered (checked.go), is let in on what the credential was found to
// hold, and checked with its read. Once its access changed, that very
// request is answered as a full authentication would answer it: refused,
// or served with the access the credential holds now.
// startedFromMemory says whether the request statements saw started from
// memory: a full authentication is its first round trip otherwise.
func startedFromMemory(statements *statementLog) bool {
	taken := statements.taken()
	return len(taken) > 0 && !slices.Contains([]string{"GetSessionAccess", "GetSessionUser", "GetAPIKeyAccess"}, taken[0])
}

// remember makes token's credential remembered: GETs of path in tenant
// (which token may make) until one starts from memory.
func (b *apiBundle) remember(t *testing.T, statements *statementLog, token, tenant, path string) {
	t.Helper()
	for range 20 {
		statements.reset()
		got := b.callAs(t, token, http.MethodGet, path, "", tenant, nil)
		require.Equal(t, http.StatusOK, got.status, string(got.body))
		if startedFromMemory(statements) {
			return
		}
	}
	t.Fatalf("GET %s never started from memory: %v", path, statements.taken())
}

func TestARememberedSessionIsCheckedWithItsRead(t *testing.T) {
	t.Parallel()
	cfg := testsvc.NewTenancyConfig(t)
	statements := &statementLog{}
	api, _ := setupAPIOn(t, cfg, bundleOptions{tracer: statements})
	api.createTenant(t, "acme")
	res := api.call(t, http.MethodPost, "/v1/roles", "", "acme", map[string]any{"name": "outsider", "permissions": []string{"members:read"}})
	require.Equal(t, http.StatusCreated, res.status, string(res.body))
	leaver := api.join(t, api.token, "acme", "leaver@example.com", domain.RoleMember)
	demoted := api.join(t, api.token, "acme", "demoted@example.com", domain.RoleMember)
	promoted := api.join(t, api.token, "acme", "promoted@example.com", "outsider")
	loggedOut := api.join(t, api.token, "acme", "out@example.com", domain.RoleMember)
	loggedOutBadQuery := api.join(t, api.token, "acme", "out-query@example.com", domain.RoleMember)
	leaverBadQuery := api.join(t, api.token, "acme", "leaver-query@example.com", domain.RoleMember)
	readsMembers := api.join(t, api.token, "acme", "reader@example.com", domain.RoleMember)
	keyMaker := api.join(t, api.token, "acme", "keys@example.com", domain.RoleAdmin)
	revokedKey := api.createAPIKey(t, api.token, "acme", domain.RoleMember)
	revokedKeyBadQuery := api.createAPIKey(t, api.token, "acme", domain.RoleMember)
	stillGood := api.join(t, api.token, "acme", "still@example.com", domain.RoleMember)
	creatorDemoted := api.createAPIKey(t, keyMaker, "acme", domain.RoleMember)
	members := api.members(t, api.token, "acme")

	get := func(token, path string) response {
		return api.callAs(t, token, http.MethodGet, path, "", "acme", nil)
	}
	fromMemory := func() bool { return startedFromMemory(statements) }
	remember := func(token, path string) {
		t.Helper()
		api.remember(t, statements, token, "acme", path)
	}
	// A query that fails validation: memory lets the request in, and huma
	// refuses it before any handler runs.
	const badQuery = "/v1/projects?limit=0"
	for _, c := range []struct {
		name   string
		token  string
		change func() response // nil: nothing changes
		path   string          // the next request's; /v1/projects when empty
		status int
	}{
		{"member removed", leaver, func() response {
			return api.call(t, http.MethodDelete, "/v1/members/"+members["leaver@example.com"].ID, "", "acme", nil)
		}, "", http.StatusNotFound},
		{"role lowered", demoted, func() response {
			return api.call(t, http.MethodPatch, "/v1/members/"+members["demoted@example.com"].ID, "", "acme", map[string]string{"role": "outsider"})
		}, "", http.StatusForbidden},
		{"logged out", loggedOut, func() response {
			return api.callAs(t, loggedOut, http.MethodPost, "/v1/auth/logout", "", "", nil)
		}, "", http.StatusUnauthorized},
		{"API key revoked", revokedKey.Key, func() response {
			return api.call(t, http.MethodDelete, "/v1/api-keys/"+revokedKey.ID, "", "acme", nil)
		}, "", http.StatusUnauthorized},
		{"API key's creator given a lower role", creatorDemoted.Key, func() response {
			// The key never does more than its creator may: now members:read.
			return api.call(t, http.MethodPatch, "/v1/members/"+members["keys@example.com"].ID, "", "acme", map[string]string{"role": "outsider"})
		}, "", http.StatusForbidden},
		// Refusing the input waits for the check too: a credential whose
		// access changed hears what a full authentication tells it, not
		// that its query was wrong.
		{"logged out, then a query refused", loggedOutBadQuery, func() response {
			return api.callAs(t, loggedOutBadQuery, http.MethodPost, "/v1/auth/logout", "", "", nil)
		}, badQuery, http.StatusUnauthorized},
		{"member removed, then a query refused", leaverBadQuery, func() response {
			return api.call(t, http.MethodDelete, "/v1/members/"+members["leaver-query@example.com"].ID, "", "acme", nil)
		}, badQuery, http.StatusNotFound},
		{"API key revoked, then a query refused", revokedKeyBadQuery.Key, func() response {
			return api.call(t, http.MethodDelete, "/v1/api-keys/"+revokedKeyBadQuery.ID, "", "acme", nil)
		}, badQuery, http.StatusUnauthorized},
		{"nothing changed, a query refused", stillGood, nil, badQuery, http.StatusUnprocessableEntity},
	} {
		remember(c.token, "/v1/projects")
		if c.change != nil {
			changed := c.change()
			require.Less(t, changed.status, 300, "%s: %s", c.name, changed.body)
		}
		statements.reset()
		path := cmp.Or(c.path, "/v1/projects")
		next := get(c.token, path)
		require.Equal(t, c.status, next.status, "%s, the next request: %s", c.name, next.body)
		switch {
		case c.path == "":
			require.True(t, fromMemory(), "%s: the request started from memory: %v", c.name, statements.taken())
		case c.status == http.StatusUnprocessableEntity:
			// No handler ran: the check took a round trip of its own.
			require.Len(t, statements.taken(), 1, "%s: the check alone: %v", c.name, statements.taken())
		default:
			// The check, then the full authentication that decides the answer.
			require.GreaterOrEqual(t, len(statements.taken()), 2, "%s: the check, then a full authentication: %v", c.name, statements.taken())
		}
		if c.status == http.StatusUnauthorized {
			require.Equal(t, `Bearer realm="api"`, next.header.Get("WWW-Authenticate"))
		}
	}

	// A role raised takes effect at once too: what memory would refuse is
	// decided afresh.
	remember(promoted, "/v1/members")
	require.Equal(t, http.StatusForbidden, get(promoted, "/v1/projects").status, "an outsider may not list projects")
	res = api.call(t, http.MethodPatch, "/v1/members/"+members["promoted@example.com"].ID, "", "acme", map[string]string{"role": domain.RoleMember})
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	res = get(promoted, "/v1/projects")
	require.Equal(t, http.StatusOK, res.status, "raised to member: %s", res.body)

	// A GET whose handler reads no tenant data is checked once it is done,
	// before it answers.
	remember(readsMembers, "/v1/members")
	res = api.callAs(t, readsMembers, http.MethodPost, "/v1/auth/logout", "", "", nil)
	require.Less(t, res.status, 300, string(res.body))
	res = get(readsMembers, "/v1/members")
	require.Equal(t, http.StatusUnauthorized, res.status, string(res.body))

	// A suspension this process has not heard of yet.
	remember(api.token, "/v1/projects")
	testsvc.SuspendUnheard(t, cfg, "acme")
	statements.reset()
	res = get(api.token, "/v1/projects")
	requireProblem(t, res, http.StatusNotFound, `no tenant "acme"`)
	require.True(t, fromMemory(), "the request started from memory: %v", statements.taken())
}

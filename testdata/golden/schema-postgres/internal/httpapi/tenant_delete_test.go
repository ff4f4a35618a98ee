package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"example.com/acme/internal/domain"
)

// Admins rename their tenant; the slug stays. The path names the tenant,
// and a header naming another is refused.
func TestRenameTenant(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	b.createTenant(t, "acme")
	b.createTenant(t, "globex")
	admin := b.join(t, b.token, "acme", "admin@example.com", domain.RoleAdmin)
	viewer := b.join(t, b.token, "acme", "viewer@example.com", domain.RoleViewer)
	outsider := b.signUpAndLogin(t, "outsider@example.com")
	rename := func(token, slug, header, name string) response {
		return b.callAs(t, token, http.MethodPatch, "/v1/tenants/"+slug, "", header, map[string]string{"name": name})
	}

	res := rename(admin, "acme", "", "Acme Corporation")
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	got := decode[tenantJSON](t, res)
	require.Equal(t, "acme", got.Slug)
	require.Equal(t, "Acme Corporation", got.Name)
	require.Equal(t, http.StatusOK, rename(admin, "acme", "acme", "Acme Corp.").status, "a header naming the same tenant is fine")
	res = b.callAs(t, viewer, http.MethodGet, "/v1/tenants", "", "", nil)
	require.Equal(t, http.StatusOK, res.status)
	require.Equal(t, "Acme Corp.", decode[pageJSON[tenantJSON]](t, res).Items[0].Name, "members see the new name at once")

	requireProblem(t, rename(viewer, "acme", "", "Viewer's Acme"), http.StatusForbidden, "does not allow tenant:write")
	requireProblem(t, rename(outsider, "acme", "", "Outsider's Acme"), http.StatusNotFound, `no tenant "acme"`)
	requireProblem(t, rename(admin, "globex", "", "Admin's Globex"), http.StatusNotFound, `no tenant "globex"`)
	requireProblem(t, rename(b.token, "acme", "globex", "Mixed up"), http.StatusBadRequest, "names another")
	requireProblem(t, rename(admin, "acme", "", ""), http.StatusUnprocessableEntity, "name")
}

// Only an owner, signed in, deletes a tenant, typing its slug again. It is
// gone at once for every member and key, its data with it, other tenants
// are untouched, and its slug is free.
func TestDeleteTenant(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	acme := b.createTenant(t, "acme")
	b.createTenant(t, "globex")
	b.createNamedProject(t, "acme", "acme's")
	b.createNamedProject(t, "globex", "globex's")
	admin := b.join(t, b.token, "acme", "admin@example.com", domain.RoleAdmin)
	ownerKey := b.createAPIKey(t, b.token, "acme", domain.RoleOwner)
	coOwner := b.join(t, b.token, "globex", "co-owner@example.com", domain.RoleOwner)
	remove := func(token, slug string, body any) response {
		return b.callAs(t, token, http.MethodDelete, "/v1/tenants/"+slug, "", "", body)
	}
	confirm := map[string]string{"confirm": "acme"}

	requireProblem(t, remove(admin, "acme", confirm), http.StatusForbidden, "does not allow tenant:delete")
	requireProblem(t, remove(ownerKey.Key, "acme", confirm), http.StatusUnauthorized, "session token")
	requireProblem(t, remove(coOwner, "acme", confirm), http.StatusNotFound, `no tenant "acme"`)
	requireProblem(t, remove(b.token, "acme", map[string]string{"confirm": "globex"}), http.StatusUnprocessableEntity, "confirm must be the tenant's slug")
	res := remove(b.token, "acme", map[string]string{})
	requireProblem(t, res, http.StatusUnprocessableEntity, "validation failed")
	require.Contains(t, string(res.body), "required property confirm")
	require.Equal(t, []string{"acme's"}, b.listAll(t, "", "acme"), "refused deletions change nothing")

	res = remove(b.token, "acme", confirm)
	require.Equal(t, http.StatusNoContent, res.status, string(res.body))

	for _, token := range []string{b.token, admin} {
		requireProblem(t, b.callAs(t, token, http.MethodGet, "/v1/projects", "", "acme", nil), http.StatusNotFound, `no tenant "acme"`)
	}
	requireProblem(t, b.callAs(t, ownerKey.Key, http.MethodGet, "/v1/projects", "", "", nil), http.StatusUnauthorized, "")
	res = b.callAs(t, admin, http.MethodGet, "/v1/tenants", "", "", nil)
	require.Equal(t, http.StatusOK, res.status)
	require.Empty(t, decode[pageJSON[tenantJSON]](t, res).Items, "the admin is a member of nothing now")
	require.Equal(t, []string{"0"}, b.query(t, `SELECT count(*)::text FROM memberships WHERE tenant_id = $1`, acme.ID))
	require.Equal(t, []string{"0"}, b.query(t, `SELECT count(*)::text FROM api_keys WHERE tenant_id = $1`, acme.ID))
	require.Equal(t, []string{"0"}, b.query(t, `SELECT count(*)::text FROM invitations WHERE tenant_id = $1`, acme.ID))
	require.Equal(t, []string{"globex's"}, b.listAll(t, "", "globex"), "other tenants keep their data")
	requireProblem(t, remove(b.token, "acme", confirm), http.StatusNotFound, `no tenant "acme"`)

	again := b.createTenant(t, "acme")
	require.NotEqual(t, acme.ID, again.ID)
	require.Empty(t, b.listAll(t, "", "acme"), "the slug's new tenant finds nothing of the old one")
	requireProblem(t, b.callAs(t, admin, http.MethodGet, "/v1/projects", "", "acme", nil), http.StatusNotFound, `no tenant "acme"`)
}

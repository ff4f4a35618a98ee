package httpapi_test

import (
	"fmt"
	"maps"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

type projectJSON struct {
	ID string `json:"id"`
}

// newProjectBody returns the body of a valid project for tenant,
// creating (as the bundle's owner) what it refers to.
func (b *apiBundle) newProjectBody(t *testing.T, _ string) map[string]any {
	t.Helper()
	n := nextSample()
	return map[string]any{
		"name": fmt.Sprintf("name %d", n),
	}
}

// createProject creates a project in tenant as the bundle's owner.
func (b *apiBundle) createProject(t *testing.T, tenant string) projectJSON {
	t.Helper()
	res := b.call(t, http.MethodPost, "/v1/projects", "", tenant, b.newProjectBody(t, tenant))
	require.Equal(t, http.StatusCreated, res.status, string(res.body))
	return decode[projectJSON](t, res)
}

// Create, get, list, update and delete projects; each change is
// what the next read sees.
func TestProjectsCRUD(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	b.createTenant(t, "acme")
	body := b.newProjectBody(t, "acme")
	res := b.call(t, http.MethodPost, "/v1/projects", "", "acme", body)
	require.Equal(t, http.StatusCreated, res.status, string(res.body))
	created := decode[map[string]any](t, res)
	id, _ := created["id"].(string)
	require.NotEmpty(t, id)
	for k, v := range body {
		require.JSONEq(t, jsonOf(t, v), jsonOf(t, created[k]), "%s as created", k)
	}

	res = b.call(t, http.MethodGet, "/v1/projects/"+id, "", "acme", nil)
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	require.Equal(t, created, decode[map[string]any](t, res))

	second := b.createProject(t, "acme")
	res = b.call(t, http.MethodGet, "/v1/projects?limit=1", "", "acme", nil)
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	first := decode[pageJSON[projectJSON]](t, res)
	require.Equal(t, []projectJSON{{ID: id}}, first.Items)
	require.NotEmpty(t, first.NextCursor)
	res = b.call(t, http.MethodGet, "/v1/projects?limit=1&cursor="+first.NextCursor, "", "acme", nil)
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	require.Equal(t, []projectJSON{second}, decode[pageJSON[projectJSON]](t, res).Items)
	res = b.call(t, http.MethodGet, "/v1/projects?sort=-created_at", "", "acme", nil)
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	require.Equal(t, []projectJSON{second, {ID: id}}, decode[pageJSON[projectJSON]](t, res).Items)

	change := b.newProjectBody(t, "acme")
	res = b.call(t, http.MethodPatch, "/v1/projects/"+id, "", "acme", change)
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	updated := decode[map[string]any](t, res)
	for k, v := range change {
		require.JSONEq(t, jsonOf(t, v), jsonOf(t, updated[k]), "%s as updated", k)
	}
	res = b.call(t, http.MethodPatch, "/v1/projects/"+id, "", "acme", map[string]any{})
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	unchanged := decode[map[string]any](t, res)
	delete(unchanged, "updated_at")
	delete(updated, "updated_at")
	require.Equal(t, updated, unchanged, "an empty PATCH changes no field")

	res = b.call(t, http.MethodDelete, "/v1/projects/"+id, "", "acme", nil)
	require.Equal(t, http.StatusNoContent, res.status, string(res.body))
	requireProblem(t, b.call(t, http.MethodGet, "/v1/projects/"+id, "", "acme", nil), http.StatusNotFound, "No project")
	requireProblem(t, b.call(t, http.MethodDelete, "/v1/projects/"+id, "", "acme", nil), http.StatusNotFound, "No project")
}

// Invalid projects are refused with 422 and change nothing.
func TestProjectsValidation(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	b.createTenant(t, "acme")
	valid := b.newProjectBody(t, "acme")
	bad := map[string]any{
		"name": "",
	}
	for field, value := range bad {
		body := maps.Clone(valid)
		body[field] = value
		res := b.call(t, http.MethodPost, "/v1/projects", "", "acme", body)
		require.Equal(t, http.StatusUnprocessableEntity, res.status, "%s = %v: %s", field, value, res.body)
	}
	res := b.call(t, http.MethodPost, "/v1/projects", "", "acme", map[string]any{})
	require.Equal(t, http.StatusUnprocessableEntity, res.status, "a project without its required fields: %s", res.body)
	res = b.call(t, http.MethodGet, "/v1/projects", "", "acme", nil)
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	require.Empty(t, decode[pageJSON[projectJSON]](t, res).Items, "nothing was created")
}

// Another tenant's projects cannot be read, listed, changed, deleted
// or referred to, even by id.
func TestProjectsCrossTenant(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	b.createTenant(t, "acme")
	b.createTenant(t, "globex")
	theirs := b.createProject(t, "acme")
	ours := b.createProject(t, "globex")
	path := "/v1/projects/" + theirs.ID

	requireProblem(t, b.call(t, http.MethodGet, path, "", "globex", nil), http.StatusNotFound, "No project")
	requireProblem(t, b.call(t, http.MethodPatch, path, "", "globex", b.newProjectBody(t, "globex")), http.StatusNotFound, "No project")
	requireProblem(t, b.call(t, http.MethodDelete, path, "", "globex", nil), http.StatusNotFound, "No project")
	res := b.call(t, http.MethodGet, "/v1/projects", "", "globex", nil)
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	require.Equal(t, []projectJSON{ours}, decode[pageJSON[projectJSON]](t, res).Items, "globex lists its own only")

	res = b.call(t, http.MethodGet, path, "", "acme", nil)
	require.Equal(t, http.StatusOK, res.status, "acme's project is untouched: %s", res.body)
}

// projects permissions go into custom roles and object grants: a grant of
// projects:read on one project reads that one only.
func TestProjectsInRolesAndGrants(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	b.createTenant(t, "acme")
	x := b.createProject(t, "acme")
	y := b.createProject(t, "acme")
	res := b.call(t, http.MethodPost, "/v1/roles", "", "acme", map[string]any{"name": "guest", "permissions": []string{}})
	require.Equal(t, http.StatusCreated, res.status, string(res.body))
	res = b.call(t, http.MethodPost, "/v1/roles", "", "acme", map[string]any{"name": "clerk", "permissions": []string{"projects:read", "projects:write"}})
	require.Equal(t, http.StatusCreated, res.status, string(res.body))
	guest := b.join(t, b.token, "acme", "guest@example.com", "guest")
	clerk := b.join(t, b.token, "acme", "clerk@example.com", "clerk")
	guestID := b.members(t, b.token, "acme")["guest@example.com"].UserID

	res = b.callAs(t, clerk, http.MethodPatch, "/v1/projects/"+x.ID, "", "acme", map[string]any{})
	require.Equal(t, http.StatusOK, res.status, "the custom role may write: %s", res.body)
	requireProblem(t, b.callAs(t, clerk, http.MethodDelete, "/v1/projects/"+x.ID, "", "acme", nil), http.StatusForbidden, "projects:delete")

	requireProblem(t, b.callAs(t, guest, http.MethodGet, "/v1/projects/"+x.ID, "", "acme", nil), http.StatusForbidden, "projects:read")
	res = b.call(t, http.MethodPost, "/v1/grants", "", "acme", map[string]string{"permission": "projects:read", "object_id": x.ID, "user_id": guestID})
	require.Equal(t, http.StatusCreated, res.status, string(res.body))
	res = b.callAs(t, guest, http.MethodGet, "/v1/projects/"+x.ID, "", "acme", nil)
	require.Equal(t, http.StatusOK, res.status, "the grant reads x: %s", res.body)
	requireProblem(t, b.callAs(t, guest, http.MethodGet, "/v1/projects/"+y.ID, "", "acme", nil), http.StatusForbidden, "projects:read")
	requireProblem(t, b.callAs(t, guest, http.MethodPatch, "/v1/projects/"+x.ID, "", "acme", map[string]any{}), http.StatusForbidden, "projects:write")
}

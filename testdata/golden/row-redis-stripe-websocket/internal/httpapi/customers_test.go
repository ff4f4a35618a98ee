package httpapi_test

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
)

type customerJSON struct {
	ID string `json:"id"`
}

// newCustomerBody returns the body of a valid customer for tenant,
// creating (as the bundle's owner) what it refers to.
func (b *apiBundle) newCustomerBody(t *testing.T, _ string) map[string]any {
	t.Helper()
	n := nextSample()
	return map[string]any{
		"name":  fmt.Sprintf("name %d", n),
		"email": fmt.Sprintf("email %d", n),
	}
}

// createCustomer creates a customer in tenant as the bundle's owner.
func (b *apiBundle) createCustomer(t *testing.T, tenant string) customerJSON {
	t.Helper()
	res := b.call(t, http.MethodPost, "/v1/customers", "", tenant, b.newCustomerBody(t, tenant))
	require.Equal(t, http.StatusCreated, res.status, string(res.body))
	return decode[customerJSON](t, res)
}

// Create, get, list, update and delete customers; each change is
// what the next read sees.
func TestCustomersCRUD(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	b.createTenant(t, "acme")
	body := b.newCustomerBody(t, "acme")
	res := b.call(t, http.MethodPost, "/v1/customers", "", "acme", body)
	require.Equal(t, http.StatusCreated, res.status, string(res.body))
	created := decode[map[string]any](t, res)
	id, _ := created["id"].(string)
	require.NotEmpty(t, id)
	for k, v := range body {
		require.JSONEq(t, jsonOf(t, v), jsonOf(t, created[k]), "%s as created", k)
	}

	res = b.call(t, http.MethodGet, "/v1/customers/"+id, "", "acme", nil)
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	require.Equal(t, created, decode[map[string]any](t, res))
	dup := b.newCustomerBody(t, "acme")
	dup["email"] = created["email"]
	requireProblem(t, b.call(t, http.MethodPost, "/v1/customers", "", "acme", dup), http.StatusConflict, "Another customer has this email.")

	second := b.createCustomer(t, "acme")
	res = b.call(t, http.MethodGet, "/v1/customers?limit=1", "", "acme", nil)
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	first := decode[pageJSON[customerJSON]](t, res)
	require.Equal(t, []customerJSON{{ID: id}}, first.Items)
	require.NotEmpty(t, first.NextCursor)
	res = b.call(t, http.MethodGet, "/v1/customers?limit=1&cursor="+first.NextCursor, "", "acme", nil)
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	require.Equal(t, []customerJSON{second}, decode[pageJSON[customerJSON]](t, res).Items)
	res = b.call(t, http.MethodGet, "/v1/customers?sort=-created_at", "", "acme", nil)
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	require.Equal(t, []customerJSON{second, {ID: id}}, decode[pageJSON[customerJSON]](t, res).Items)
	res = b.call(t, http.MethodGet, "/v1/customers?email="+url.QueryEscape(fmt.Sprint(created["email"])), "", "acme", nil)
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	require.Contains(t, decode[pageJSON[customerJSON]](t, res).Items, customerJSON{ID: id}, "filtered on email")

	change := b.newCustomerBody(t, "acme")
	res = b.call(t, http.MethodPatch, "/v1/customers/"+id, "", "acme", change)
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	updated := decode[map[string]any](t, res)
	for k, v := range change {
		require.JSONEq(t, jsonOf(t, v), jsonOf(t, updated[k]), "%s as updated", k)
	}
	res = b.call(t, http.MethodPatch, "/v1/customers/"+id, "", "acme", map[string]any{})
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	unchanged := decode[map[string]any](t, res)
	delete(unchanged, "updated_at")
	delete(updated, "updated_at")
	require.Equal(t, updated, unchanged, "an empty PATCH changes no field")

	res = b.call(t, http.MethodDelete, "/v1/customers/"+id, "", "acme", nil)
	require.Equal(t, http.StatusNoContent, res.status, string(res.body))
	requireProblem(t, b.call(t, http.MethodGet, "/v1/customers/"+id, "", "acme", nil), http.StatusNotFound, "No customer")
	requireProblem(t, b.call(t, http.MethodDelete, "/v1/customers/"+id, "", "acme", nil), http.StatusNotFound, "No customer")
}

// Invalid customers are refused with 422 and change nothing.
func TestCustomersValidation(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	b.createTenant(t, "acme")
	valid := b.newCustomerBody(t, "acme")
	bad := map[string]any{
		"name":  "",
		"email": "",
	}
	for field, value := range bad {
		body := maps.Clone(valid)
		body[field] = value
		res := b.call(t, http.MethodPost, "/v1/customers", "", "acme", body)
		require.Equal(t, http.StatusUnprocessableEntity, res.status, "%s = %v: %s", field, value, res.body)
	}
	res := b.call(t, http.MethodPost, "/v1/customers", "", "acme", map[string]any{})
	require.Equal(t, http.StatusUnprocessableEntity, res.status, "a customer without its required fields: %s", res.body)
	res = b.call(t, http.MethodGet, "/v1/customers", "", "acme", nil)
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	require.Empty(t, decode[pageJSON[customerJSON]](t, res).Items, "nothing was created")
}

// Another tenant's customers cannot be read, listed, changed, deleted
// or referred to, even by id.
func TestCustomersCrossTenant(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	b.createTenant(t, "acme")
	b.createTenant(t, "globex")
	theirs := b.createCustomer(t, "acme")
	ours := b.createCustomer(t, "globex")
	path := "/v1/customers/" + theirs.ID

	requireProblem(t, b.call(t, http.MethodGet, path, "", "globex", nil), http.StatusNotFound, "No customer")
	requireProblem(t, b.call(t, http.MethodPatch, path, "", "globex", b.newCustomerBody(t, "globex")), http.StatusNotFound, "No customer")
	requireProblem(t, b.call(t, http.MethodDelete, path, "", "globex", nil), http.StatusNotFound, "No customer")
	res := b.call(t, http.MethodGet, "/v1/customers", "", "globex", nil)
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	require.Equal(t, []customerJSON{ours}, decode[pageJSON[customerJSON]](t, res).Items, "globex lists its own only")

	res = b.call(t, http.MethodGet, path, "", "acme", nil)
	require.Equal(t, http.StatusOK, res.status, "acme's customer is untouched: %s", res.body)
}

// customers permissions go into custom roles and object grants: a grant of
// customers:read on one customer reads that one only.
func TestCustomersInRolesAndGrants(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	b.createTenant(t, "acme")
	x := b.createCustomer(t, "acme")
	y := b.createCustomer(t, "acme")
	res := b.call(t, http.MethodPost, "/v1/roles", "", "acme", map[string]any{"name": "guest", "permissions": []string{}})
	require.Equal(t, http.StatusCreated, res.status, string(res.body))
	res = b.call(t, http.MethodPost, "/v1/roles", "", "acme", map[string]any{"name": "clerk", "permissions": []string{"customers:read", "customers:write"}})
	require.Equal(t, http.StatusCreated, res.status, string(res.body))
	guest := b.join(t, b.token, "acme", "guest@example.com", "guest")
	clerk := b.join(t, b.token, "acme", "clerk@example.com", "clerk")
	guestID := b.members(t, b.token, "acme")["guest@example.com"].UserID

	res = b.callAs(t, clerk, http.MethodPatch, "/v1/customers/"+x.ID, "", "acme", map[string]any{})
	require.Equal(t, http.StatusOK, res.status, "the custom role may write: %s", res.body)
	requireProblem(t, b.callAs(t, clerk, http.MethodDelete, "/v1/customers/"+x.ID, "", "acme", nil), http.StatusForbidden, "customers:delete")

	requireProblem(t, b.callAs(t, guest, http.MethodGet, "/v1/customers/"+x.ID, "", "acme", nil), http.StatusForbidden, "customers:read")
	res = b.call(t, http.MethodPost, "/v1/grants", "", "acme", map[string]string{"permission": "customers:read", "object_id": x.ID, "user_id": guestID})
	require.Equal(t, http.StatusCreated, res.status, string(res.body))
	res = b.callAs(t, guest, http.MethodGet, "/v1/customers/"+x.ID, "", "acme", nil)
	require.Equal(t, http.StatusOK, res.status, "the grant reads x: %s", res.body)
	requireProblem(t, b.callAs(t, guest, http.MethodGet, "/v1/customers/"+y.ID, "", "acme", nil), http.StatusForbidden, "customers:read")
	requireProblem(t, b.callAs(t, guest, http.MethodPatch, "/v1/customers/"+x.ID, "", "acme", map[string]any{}), http.StatusForbidden, "customers:write")
}

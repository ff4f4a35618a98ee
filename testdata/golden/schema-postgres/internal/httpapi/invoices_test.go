package httpapi_test

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type invoiceJSON struct {
	ID string `json:"id"`
}

// newInvoiceBody returns the body of a valid invoice for tenant,
// creating (as the bundle's owner) what it refers to.
func (b *apiBundle) newInvoiceBody(t *testing.T, tenant string) map[string]any {
	t.Helper()
	n := nextSample()
	return map[string]any{
		"number":       fmt.Sprintf("number %d", n),
		"title":        fmt.Sprintf("title %d", n),
		"amount_cents": int64(n),
		"qty":          n,
		"paid":         n%2 == 0,
		"total":        fmt.Sprintf("%d.50", n),
		"due_at":       time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).Add(time.Duration(n) * time.Second).Format(time.RFC3339),
		"issued_on":    time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(n)).Format(time.DateOnly),
		"ext":          fmt.Sprintf("00000000-0000-4000-8000-%012d", n),
		"meta":         map[string]any{"n": n},
		"customer_id":  b.createCustomer(t, tenant).ID,
		"status":       "draft",
		"code":         fmt.Sprintf("code %d", n),
	}
}

// createInvoice creates a invoice in tenant as the bundle's owner.
func (b *apiBundle) createInvoice(t *testing.T, tenant string) invoiceJSON {
	t.Helper()
	res := b.call(t, http.MethodPost, "/v1/invoices", "", tenant, b.newInvoiceBody(t, tenant))
	require.Equal(t, http.StatusCreated, res.status, string(res.body))
	return decode[invoiceJSON](t, res)
}

// Create, get, list, update and delete invoices; each change is
// what the next read sees.
func TestInvoicesCRUD(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	b.createTenant(t, "acme")
	body := b.newInvoiceBody(t, "acme")
	res := b.call(t, http.MethodPost, "/v1/invoices", "", "acme", body)
	require.Equal(t, http.StatusCreated, res.status, string(res.body))
	created := decode[map[string]any](t, res)
	id, _ := created["id"].(string)
	require.NotEmpty(t, id)
	for k, v := range body {
		require.JSONEq(t, jsonOf(t, v), jsonOf(t, created[k]), "%s as created", k)
	}

	res = b.call(t, http.MethodGet, "/v1/invoices/"+id, "", "acme", nil)
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	require.Equal(t, created, decode[map[string]any](t, res))
	dup := b.newInvoiceBody(t, "acme")
	dup["number"] = created["number"]
	requireProblem(t, b.call(t, http.MethodPost, "/v1/invoices", "", "acme", dup), http.StatusConflict, "Another invoice has this number.")

	second := b.createInvoice(t, "acme")
	res = b.call(t, http.MethodGet, "/v1/invoices?limit=1", "", "acme", nil)
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	first := decode[pageJSON[invoiceJSON]](t, res)
	require.Equal(t, []invoiceJSON{{ID: id}}, first.Items)
	require.NotEmpty(t, first.NextCursor)
	res = b.call(t, http.MethodGet, "/v1/invoices?limit=1&cursor="+first.NextCursor, "", "acme", nil)
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	require.Equal(t, []invoiceJSON{second}, decode[pageJSON[invoiceJSON]](t, res).Items)
	res = b.call(t, http.MethodGet, "/v1/invoices?sort=-created_at", "", "acme", nil)
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	require.Equal(t, []invoiceJSON{second, {ID: id}}, decode[pageJSON[invoiceJSON]](t, res).Items)
	res = b.call(t, http.MethodGet, "/v1/invoices?number="+url.QueryEscape(fmt.Sprint(created["number"])), "", "acme", nil)
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	require.Contains(t, decode[pageJSON[invoiceJSON]](t, res).Items, invoiceJSON{ID: id}, "filtered on number")
	res = b.call(t, http.MethodGet, "/v1/invoices?paid="+url.QueryEscape(fmt.Sprint(created["paid"])), "", "acme", nil)
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	require.Contains(t, decode[pageJSON[invoiceJSON]](t, res).Items, invoiceJSON{ID: id}, "filtered on paid")
	res = b.call(t, http.MethodGet, "/v1/invoices?ext="+url.QueryEscape(fmt.Sprint(created["ext"])), "", "acme", nil)
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	require.Contains(t, decode[pageJSON[invoiceJSON]](t, res).Items, invoiceJSON{ID: id}, "filtered on ext")
	res = b.call(t, http.MethodGet, "/v1/invoices?customer_id="+url.QueryEscape(fmt.Sprint(created["customer_id"])), "", "acme", nil)
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	require.Contains(t, decode[pageJSON[invoiceJSON]](t, res).Items, invoiceJSON{ID: id}, "filtered on customer_id")
	res = b.call(t, http.MethodGet, "/v1/invoices?status="+url.QueryEscape(fmt.Sprint(created["status"])), "", "acme", nil)
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	require.Contains(t, decode[pageJSON[invoiceJSON]](t, res).Items, invoiceJSON{ID: id}, "filtered on status")
	res = b.call(t, http.MethodGet, "/v1/invoices?code="+url.QueryEscape(fmt.Sprint(created["code"])), "", "acme", nil)
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	require.Contains(t, decode[pageJSON[invoiceJSON]](t, res).Items, invoiceJSON{ID: id}, "filtered on code")

	change := b.newInvoiceBody(t, "acme")
	res = b.call(t, http.MethodPatch, "/v1/invoices/"+id, "", "acme", change)
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	updated := decode[map[string]any](t, res)
	for k, v := range change {
		require.JSONEq(t, jsonOf(t, v), jsonOf(t, updated[k]), "%s as updated", k)
	}
	res = b.call(t, http.MethodPatch, "/v1/invoices/"+id, "", "acme", map[string]any{})
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	unchanged := decode[map[string]any](t, res)
	delete(unchanged, "updated_at")
	delete(updated, "updated_at")
	require.Equal(t, updated, unchanged, "an empty PATCH changes no field")
	res = b.call(t, http.MethodPatch, "/v1/invoices/"+id, "", "acme", map[string]any{"title": nil})
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	require.Nil(t, decode[map[string]any](t, res)["title"], "null clears title")
	res = b.call(t, http.MethodPatch, "/v1/invoices/"+id, "", "acme", map[string]any{"total": nil})
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	require.Nil(t, decode[map[string]any](t, res)["total"], "null clears total")
	res = b.call(t, http.MethodPatch, "/v1/invoices/"+id, "", "acme", map[string]any{"due_at": nil})
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	require.Nil(t, decode[map[string]any](t, res)["due_at"], "null clears due_at")
	res = b.call(t, http.MethodPatch, "/v1/invoices/"+id, "", "acme", map[string]any{"issued_on": nil})
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	require.Nil(t, decode[map[string]any](t, res)["issued_on"], "null clears issued_on")
	res = b.call(t, http.MethodPatch, "/v1/invoices/"+id, "", "acme", map[string]any{"ext": nil})
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	require.Nil(t, decode[map[string]any](t, res)["ext"], "null clears ext")
	res = b.call(t, http.MethodPatch, "/v1/invoices/"+id, "", "acme", map[string]any{"meta": nil})
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	require.Nil(t, decode[map[string]any](t, res)["meta"], "null clears meta")
	res = b.call(t, http.MethodPatch, "/v1/invoices/"+id, "", "acme", map[string]any{"customer_id": nil})
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	require.Nil(t, decode[map[string]any](t, res)["customer_id"], "null clears customer_id")

	res = b.call(t, http.MethodDelete, "/v1/invoices/"+id, "", "acme", nil)
	require.Equal(t, http.StatusNoContent, res.status, string(res.body))
	requireProblem(t, b.call(t, http.MethodGet, "/v1/invoices/"+id, "", "acme", nil), http.StatusNotFound, "No invoice")
	requireProblem(t, b.call(t, http.MethodDelete, "/v1/invoices/"+id, "", "acme", nil), http.StatusNotFound, "No invoice")
}

// Invalid invoices are refused with 422 and change nothing.
func TestInvoicesValidation(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	b.createTenant(t, "acme")
	valid := b.newInvoiceBody(t, "acme")
	bad := map[string]any{
		"number":       "",
		"amount_cents": "text",
		"qty":          "text",
		"paid":         "text",
		"total":        "twelve",
		"due_at":       "not-a-time",
		"issued_on":    "not-a-date",
		"ext":          "not-a-uuid",
		"customer_id":  "not-a-ref",
		"status":       "not-a-value",
		"code":         "",
	}
	for field, value := range bad {
		body := maps.Clone(valid)
		body[field] = value
		res := b.call(t, http.MethodPost, "/v1/invoices", "", "acme", body)
		require.Equal(t, http.StatusUnprocessableEntity, res.status, "%s = %v: %s", field, value, res.body)
	}
	res := b.call(t, http.MethodPost, "/v1/invoices", "", "acme", map[string]any{})
	require.Equal(t, http.StatusUnprocessableEntity, res.status, "a invoice without its required fields: %s", res.body)
	res = b.call(t, http.MethodGet, "/v1/invoices", "", "acme", nil)
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	require.Empty(t, decode[pageJSON[invoiceJSON]](t, res).Items, "nothing was created")
}

// Another tenant's invoices cannot be read, listed, changed, deleted
// or referred to, even by id.
func TestInvoicesCrossTenant(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	b.createTenant(t, "acme")
	b.createTenant(t, "globex")
	theirs := b.createInvoice(t, "acme")
	ours := b.createInvoice(t, "globex")
	path := "/v1/invoices/" + theirs.ID

	requireProblem(t, b.call(t, http.MethodGet, path, "", "globex", nil), http.StatusNotFound, "No invoice")
	requireProblem(t, b.call(t, http.MethodPatch, path, "", "globex", b.newInvoiceBody(t, "globex")), http.StatusNotFound, "No invoice")
	requireProblem(t, b.call(t, http.MethodDelete, path, "", "globex", nil), http.StatusNotFound, "No invoice")
	res := b.call(t, http.MethodGet, "/v1/invoices", "", "globex", nil)
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	require.Equal(t, []invoiceJSON{ours}, decode[pageJSON[invoiceJSON]](t, res).Items, "globex lists its own only")

	// A invoice of globex cannot refer to acme's customers.
	body := b.newInvoiceBody(t, "globex")
	body["customer_id"] = b.createCustomer(t, "acme").ID
	res = b.call(t, http.MethodPost, "/v1/invoices", "", "globex", body)
	require.Equal(t, http.StatusConflict, res.status, string(res.body))

	res = b.call(t, http.MethodGet, path, "", "acme", nil)
	require.Equal(t, http.StatusOK, res.status, "acme's invoice is untouched: %s", res.body)
}

// invoices permissions go into custom roles and object grants: a grant of
// invoices:read on one invoice reads that one only.
func TestInvoicesInRolesAndGrants(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	b.createTenant(t, "acme")
	x := b.createInvoice(t, "acme")
	y := b.createInvoice(t, "acme")
	res := b.call(t, http.MethodPost, "/v1/roles", "", "acme", map[string]any{"name": "guest", "permissions": []string{}})
	require.Equal(t, http.StatusCreated, res.status, string(res.body))
	res = b.call(t, http.MethodPost, "/v1/roles", "", "acme", map[string]any{"name": "clerk", "permissions": []string{"invoices:read", "invoices:write"}})
	require.Equal(t, http.StatusCreated, res.status, string(res.body))
	guest := b.join(t, b.token, "acme", "guest@example.com", "guest")
	clerk := b.join(t, b.token, "acme", "clerk@example.com", "clerk")
	guestID := b.members(t, b.token, "acme")["guest@example.com"].UserID

	res = b.callAs(t, clerk, http.MethodPatch, "/v1/invoices/"+x.ID, "", "acme", map[string]any{})
	require.Equal(t, http.StatusOK, res.status, "the custom role may write: %s", res.body)
	requireProblem(t, b.callAs(t, clerk, http.MethodDelete, "/v1/invoices/"+x.ID, "", "acme", nil), http.StatusForbidden, "invoices:delete")

	requireProblem(t, b.callAs(t, guest, http.MethodGet, "/v1/invoices/"+x.ID, "", "acme", nil), http.StatusForbidden, "invoices:read")
	res = b.call(t, http.MethodPost, "/v1/grants", "", "acme", map[string]string{"permission": "invoices:read", "object_id": x.ID, "user_id": guestID})
	require.Equal(t, http.StatusCreated, res.status, string(res.body))
	res = b.callAs(t, guest, http.MethodGet, "/v1/invoices/"+x.ID, "", "acme", nil)
	require.Equal(t, http.StatusOK, res.status, "the grant reads x: %s", res.body)
	requireProblem(t, b.callAs(t, guest, http.MethodGet, "/v1/invoices/"+y.ID, "", "acme", nil), http.StatusForbidden, "invoices:read")
	requireProblem(t, b.callAs(t, guest, http.MethodPatch, "/v1/invoices/"+x.ID, "", "acme", map[string]any{}), http.StatusForbidden, "invoices:write")
}

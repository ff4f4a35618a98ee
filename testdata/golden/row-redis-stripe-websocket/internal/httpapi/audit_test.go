package httpapi_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/acme/shop-api/internal/domain"
	"github.com/acme/shop-api/internal/httpapi"
	"github.com/acme/shop-api/internal/postgres"
)

// auditLogOf is the audit log of the registry the API is served over.
func auditLogOf(tenants httpapi.Tenants) httpapi.AuditLog {
	if ts, ok := tenants.(*postgres.Tenants); ok {
		return postgres.NewAuditLog(ts)
	}
	return nil
}

type auditEventJSON struct {
	ID         string         `json:"id"`
	Plane      string         `json:"plane"`
	Action     string         `json:"action"`
	TargetType string         `json:"target_type"`
	TargetID   string         `json:"target_id"`
	UserID     string         `json:"user_id"`
	APIKeyID   string         `json:"api_key_id"`
	RequestID  string         `json:"request_id"`
	IP         string         `json:"ip"`
	UserAgent  string         `json:"user_agent"`
	After      map[string]any `json:"after"`
}

// The audit log through the API: the tenant's own changes and its
// control-plane changes, newest first, who made them from where, no
// secret; filters and keyset pages; another tenant's entries never.
func TestAuditEventsAPI(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	b.createTenant(t, "acme")
	b.createTenant(t, "globex")
	key := b.createAPIKey(t, b.token, "acme", domain.RoleMember)
	res := b.callAs(t, key.Key, http.MethodPost, "/v1/projects", "", "acme", map[string]string{"name": "Apollo"})
	require.Equal(t, http.StatusCreated, res.status, string(res.body))
	project := decode[namedProjectJSON](t, res)
	res = b.call(t, http.MethodPost, "/v1/projects", "", "globex", map[string]string{"name": "Other"})
	require.Equal(t, http.StatusCreated, res.status, string(res.body))

	res = b.call(t, http.MethodGet, "/v1/audit-events", "", "acme", nil)
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	require.NotContains(t, string(res.body), key.Key, "no secret in the log")
	page := decode[pageJSON[auditEventJSON]](t, res)
	actions := make([]string, 0, len(page.Items))
	for _, e := range page.Items {
		actions = append(actions, e.Action)
	}
	require.Equal(t, []string{"project.create", "api_key.create", "tenant.create"}, actions, "acme's entries only, newest first")

	created := page.Items[0]
	require.Equal(t, "tenant", created.Plane)
	require.Equal(t, "project", created.TargetType)
	require.Equal(t, project.ID, created.TargetID)
	require.Equal(t, key.ID, created.APIKeyID, "made with the API key")
	require.NotEmpty(t, created.UserID)
	require.NotEmpty(t, created.RequestID)
	require.NotEmpty(t, created.IP)
	require.Equal(t, "Apollo", created.After["name"])
	keyEntry := page.Items[1]
	require.Equal(t, "control", keyEntry.Plane)
	require.Equal(t, key.ID, keyEntry.TargetID)
	require.Empty(t, keyEntry.APIKeyID)

	// Filters.
	for query, want := range map[string][]string{
		"action=api_key.create":                                 {"api_key.create"},
		"target_type=project&target_id=" + project.ID:           {"project.create"},
		"actor=" + key.ID:                                       {"project.create"},
		"since=2000-01-01T00:00:00Z&until=2001-01-01T00:00:00Z": {},
	} {
		res = b.call(t, http.MethodGet, "/v1/audit-events?"+query, "", "acme", nil)
		require.Equal(t, http.StatusOK, res.status, string(res.body))
		items := decode[pageJSON[auditEventJSON]](t, res).Items
		got := make([]string, 0, len(items))
		for _, e := range items {
			got = append(got, e.Action)
		}
		require.Equal(t, want, got, query)
	}
	res = b.call(t, http.MethodGet, "/v1/audit-events?since=yesterday", "", "acme", nil)
	require.Equal(t, http.StatusUnprocessableEntity, res.status, string(res.body))

	// One entry a page, through the cursor: the same entries in the same order.
	var paged []string
	cursor := ""
	for range 10 {
		res = b.call(t, http.MethodGet, "/v1/audit-events?limit=1&cursor="+url.QueryEscape(cursor), "", "acme", nil)
		require.Equal(t, http.StatusOK, res.status, string(res.body))
		p := decode[pageJSON[auditEventJSON]](t, res)
		for _, e := range p.Items {
			paged = append(paged, e.Action)
		}
		if cursor = p.NextCursor; cursor == "" {
			break
		}
	}
	require.Equal(t, actions, paged)
	res = b.call(t, http.MethodGet, "/v1/audit-events?cursor=bm9wZQ", "", "acme", nil)
	require.Equal(t, http.StatusUnprocessableEntity, res.status, string(res.body))
}

// A login and a logout are audited in the control plane, by the user who
// logged in, from where, and never with the session's token.
func TestAuditLoginAndLogout(t *testing.T) {
	t.Parallel()
	b := setupAPI(t)
	user := b.signUp(t, "ada@example.com")
	token := b.login(t, "ada@example.com")
	res := b.callAs(t, token, http.MethodPost, "/v1/auth/logout", "", "", nil)
	require.Less(t, res.status, 300, string(res.body))

	var entries []postgres.AuditRecord
	err := postgres.NewAuditLog(b.tenants).ExportUnattributed(t.Context(), time.Time{}, func(r postgres.AuditRecord) error {
		if r.UserID == user.ID && (r.Action == "user.login" || r.Action == "user.logout") {
			entries = append(entries, r)
		}
		return nil
	})
	require.NoError(t, err)
	require.Len(t, entries, 2, "one login and one logout")
	for i, action := range []string{"user.login", "user.logout"} {
		e := entries[i]
		require.Equal(t, action, e.Action)
		require.Equal(t, "user", e.TargetType)
		require.Equal(t, user.ID, e.TargetID)
		require.NotEmpty(t, e.RequestID, action)
		require.NotEmpty(t, e.IP, action)
		require.NotContains(t, string(e.Before)+string(e.After), token, "no token in the log")
		require.NotContains(t, string(e.Before)+string(e.After), "password", "no password in the log")
	}
	report, err := postgres.NewAuditLog(b.tenants).VerifyUnattributed(t.Context())
	require.NoError(t, err)
	require.True(t, report.OK(), report.Problem)
}

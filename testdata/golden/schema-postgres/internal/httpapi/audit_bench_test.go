package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"example.com/acme/internal/httpapi"
	"example.com/acme/internal/postgres"
	"example.com/acme/internal/testsvc"
)

// BenchmarkAuditOverhead serves POST /v1/projects, one request at a time,
// with the audit log recording every change and without it (no recorder):
// the cost of the entry, its chain link and the head kept in the control
// plane on a write request.
//
//	go test ./internal/httpapi -run '^$' -bench BenchmarkAuditOverhead -benchtime 3s -count 3
func BenchmarkAuditOverhead(b *testing.B) {
	api, tenants := setupAPIOn(b, testsvc.NewTenancyConfig(b), bundleOptions{})
	owner, err := api.identity.Authenticate(b.Context(), api.token)
	require.NoError(b, err)
	_, err = tenants.CreateOwned(b.Context(), "acme", "Acme", owner.UserID)
	require.NoError(b, err)
	for _, audited := range []bool{false, true} {
		seams := postgres.Seams{}
		name := "audit=off"
		if audited {
			seams.Audit, name = postgres.NewAuditLog(tenants), "audit=on"
		}
		tenants.UseSeams(seams)
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				req := httptest.NewRequestWithContext(context.Background(), http.MethodPost, "/v1/projects", strings.NewReader(`{"name":"p"}`))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set(httpapi.TenantHeader, "acme")
				req.Header.Set("Authorization", "Bearer "+api.token)
				rec := httptest.NewRecorder()
				api.handler.ServeHTTP(rec, req)
				if rec.Code != http.StatusCreated {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}

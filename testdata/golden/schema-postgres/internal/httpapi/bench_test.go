package httpapi_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/require"

	"example.com/acme/internal/httpapi"
	"example.com/acme/internal/postgres"
	"example.com/acme/internal/testsvc"
)

// BenchmarkListProjects serves GET /v1/projects under load (16 requests at
// once), each request for a tenant picked at random: with few tenants and
// with many, the cost of switching tenants on every request.
//
//	go test ./internal/httpapi -run '^$' -bench BenchmarkListProjects -benchtime 5s -timeout 30m
func BenchmarkListProjects(b *testing.B) {
	for _, n := range []int{10, 10_000} {
		// Set up here, once: the function given to Run runs several times.
		cfg := testsvc.NewTenancyConfig(b)
		api, tenants := setupAPIOn(b, cfg, bundleOptions{})
		owner, err := api.identity.Authenticate(b.Context(), api.token)
		require.NoError(b, err)
		slugs := createBenchTenants(b, tenants, owner.UserID, n)

		b.Run(fmt.Sprintf("tenants=%d", n), func(b *testing.B) {
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := httptest.NewRequestWithContext(context.Background(), http.MethodGet, "/v1/projects?limit=20", http.NoBody)
					req.Header.Set(httpapi.TenantHeader, slugs[rand.IntN(len(slugs))]) //nolint:gosec // G404: load spreading, not security
					req.Header.Set("Authorization", "Bearer "+api.token)
					rec := httptest.NewRecorder()
					api.handler.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK {
						b.Errorf("status %d: %s", rec.Code, rec.Body)
						return
					}
				}
			})
		})
		tenants.Close() // give the connections back before the next set-up
	}
}

// createBenchTenants creates n tenants owned by owner with three projects
// each, four at a time, and returns their slugs.
func createBenchTenants(b *testing.B, tenants *postgres.Tenants, owner string, n int) []string {
	b.Helper()
	slugs := make([]string, n)
	errs := make([]error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := range next {
				slugs[i] = fmt.Sprintf("bench-%05d", i)
				errs[i] = createWithProjects(b.Context(), tenants, owner, slugs[i])
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		require.NoError(b, err)
	}
	return slugs
}

func createWithProjects(ctx context.Context, tenants *postgres.Tenants, owner, slug string) error {
	t, err := tenants.CreateOwned(ctx, slug, "Bench", owner)
	if err != nil {
		return err
	}
	return tenants.InTenant(ctx, t, func(ctx context.Context, u *postgres.Unit) error {
		for i := range 3 {
			if _, createErr := u.Queries.CreateProject(ctx, pgtype.Text{String: fmt.Sprintf("project %d", i), Valid: true}); createErr != nil {
				return createErr
			}
		}
		return nil
	})
}

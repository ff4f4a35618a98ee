package httpapi_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/require"

	"example.com/acme/internal/domain"
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
	parent := b
	for _, n := range []int{10, 10_000} {
		var (
			api     *apiBundle
			tenants *postgres.Tenants
			slugs   []string
		)
		b.Run(fmt.Sprintf("tenants=%d", n), func(b *testing.B) {
			// Set up on the first run only (the function runs several
			// times), and only when -bench selects n.
			if api == nil {
				cfg := testsvc.NewTenancyConfig(parent)
				api, tenants = setupAPIOn(parent, cfg, bundleOptions{})
				owner, err := api.identity.Authenticate(b.Context(), api.token)
				require.NoError(b, err)
				slugs = createBenchTenants(parent, tenants, owner.UserID, n)
				b.ResetTimer()
			}
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
		if tenants != nil {
			tenants.Close() // give the connections back before the next set-up
		}
	}
}

// TestListProjectsRoundTrips pins down the round trips of the request
// BenchmarkListProjects measures, which (unlike its timings) do not vary
// from run to run: a warm GET /v1/projects by a member's session, which
// is remembered in the tenant (checked.go), is one pipeline: the check of
// the session, the statement that enters the tenant and the page
// (Tenants.ReadTenant).
func TestListProjectsRoundTrips(t *testing.T) {
	t.Parallel()
	statements := &statementLog{}
	api, tenants := setupAPIOn(t, testsvc.NewTenancyConfig(t), bundleOptions{tracer: statements})
	owner, err := api.identity.Authenticate(t.Context(), api.token)
	require.NoError(t, err)
	require.NoError(t, createWithProjects(t.Context(), tenants, owner.UserID, "round-trips"))
	key := api.createAPIKey(t, api.token, "round-trips", domain.RoleMember)
	list := func(token string) {
		t.Helper()
		req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/v1/projects?limit=20", http.NoBody)
		req.Header.Set(httpapi.TenantHeader, "round-trips")
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		api.handler.ServeHTTP(rec, req)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	}
	for _, c := range []struct {
		token string
		want  []string
	}{
		{api.token, rememberedList},
		{key.Key, rememberedKeyList},
	} {
		list(c.token) // caches the tenant, remembers the credential, prepares the statements
		// The tenant watch clears the cache once, when its LISTEN is in
		// place (a change made before that would go unheard otherwise); on
		// a busy machine that can come after the first request. A warm
		// request is one that finds the tenant cached and the credential
		// remembered; the round trips are counted on it.
		var taken []string
		for range 10 {
			statements.reset()
			list(c.token)
			if taken = statements.taken(); slices.Equal(taken, c.want) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		require.Equal(t, c.want, taken, "ten requests and none warm")
	}
}

// rememberedList is the round trips of a GET /v1/projects by a session
// remembered in the tenant.
// rememberedKeyList is the same by an API key remembered.
var (
	rememberedList    = []string{"GetSessionAccess + EnterTenant + ListProjects"}
	rememberedKeyList = []string{"GetAPIKeyAccess + EnterTenant + ListProjects"}
)

// statementLog is a pgx.QueryTracer, pgx.BatchTracer and
// pgx.PrepareTracer that keeps, for every round trip, the name of each
// statement sent: a sqlc query's name, or the first word of other SQL in
// capitals; the statements of one batch (one pipeline) are joined with
// " + ", and a statement prepared is "PREPARE" and its name.
type statementLog struct {
	mu    sync.Mutex
	names []string
	// prepared maps the name of a statement prepared under a name of its
	// own (a tenant's, in schema mode) to what statementName calls it.
	prepared map[string]string
}

// statementName is what statementLog calls a statement.
func statementName(sql string) string {
	if rest, ok := strings.CutPrefix(sql, "-- name: "); ok {
		name, _, _ := strings.Cut(rest, " ")
		name, _, _ = strings.Cut(name, "\n")
		return name
	}
	name, _, _ := strings.Cut(strings.TrimSpace(sql), " ")
	return strings.ToUpper(strings.TrimSuffix(name, ";"))
}

// listener reports whether conn is the tenant registry's listening
// connection, whose LISTEN and heartbeat are no request's round trips:
// they start on their own, sometimes while a request is counted.
func listener(conn *pgx.Conn) bool {
	return strings.HasSuffix(conn.Config().RuntimeParams["application_name"], "-listen")
}

func (l *statementLog) TraceQueryStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if listener(conn) {
		return ctx
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.names = append(l.names, statementName(data.SQL))
	return ctx
}

func (*statementLog) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

type batchIndexKey struct{}

func (l *statementLog) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.names = append(l.names, "")
	return context.WithValue(ctx, batchIndexKey{}, len(l.names)-1)
}

func (l *statementLog) TraceBatchQuery(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchQueryData) {
	i, ok := ctx.Value(batchIndexKey{}).(int)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if i < len(l.names) { // not reset meanwhile
		name, ok := l.prepared[data.SQL]
		if !ok {
			name = statementName(data.SQL)
		}
		l.names[i] = strings.TrimPrefix(l.names[i]+" + "+name, " + ")
	}
}

type preparedSQLKey struct{}

func (l *statementLog) TracePrepareStart(ctx context.Context, _ *pgx.Conn, data pgx.TracePrepareStartData) context.Context {
	l.mu.Lock()
	defer l.mu.Unlock()
	if data.Name != data.SQL {
		if l.prepared == nil {
			l.prepared = map[string]string{}
		}
		l.prepared[data.Name] = statementName(data.SQL)
	}
	return context.WithValue(ctx, preparedSQLKey{}, data.SQL)
}

// TracePrepareEnd logs a statement prepared, "PREPARE" and its name; one
// found prepared already costs no round trip.
func (l *statementLog) TracePrepareEnd(ctx context.Context, conn *pgx.Conn, data pgx.TracePrepareEndData) {
	sql, _ := ctx.Value(preparedSQLKey{}).(string)
	if data.AlreadyPrepared || listener(conn) {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.names = append(l.names, "PREPARE "+statementName(sql))
}

func (*statementLog) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

func (l *statementLog) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.names = nil
}

func (l *statementLog) taken() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.names)
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

package postgres_test

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/require"

	"example.com/acme/internal/config"
	"example.com/acme/internal/domain"
	"example.com/acme/internal/postgres"
	"example.com/acme/internal/postgres/tenantdb"
)

// Schema mode, attacked directly: search_path is set per transaction and
// gone afterwards, a missing schema fails closed, public holds no tenant
// table, and divergent schemas never confuse a connection.

// acmeAndGlobex sets up tenants acme, with n projects (acme-1, ...), and
// globex, with one (globex-1).
func acmeAndGlobex(t *testing.T, n int) (*tenantsBundle, domain.Tenant, domain.Tenant) {
	t.Helper()
	b := setupTenants(t)
	acme, globex := b.create(t, "acme"), b.create(t, "globex")
	createProjects(t, b.tenants, acme, "acme", n)
	createProjects(t, b.tenants, globex, "globex", 1)
	return b, acme, globex
}

// storageExists reports whether the tenant's schema exists.
func storageExists(t *testing.T, b *tenantsBundle, slug string) bool {
	t.Helper()
	var exists bool
	err := postgres.ControlPool(b.tenants).QueryRow(t.Context(),
		`SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, "t_"+slug).Scan(&exists)
	require.NoError(t, err)
	return exists
}

// sessionState reads the connection's search_path and backend outside any
// tenant transaction.
func sessionState(t *testing.T, ts *postgres.Tenants) (searchPath string, pid int) {
	t.Helper()
	err := postgres.ControlPool(ts).QueryRow(t.Context(), `SELECT current_setting('search_path'), pg_backend_pid()`).Scan(&searchPath, &pid)
	require.NoError(t, err)
	return searchPath, pid
}

func TestSchemaSearchPathLastsOneTransaction(t *testing.T) {
	t.Parallel()
	b, acme, globex := acmeAndGlobex(t, 2)

	ts := pinned(t, b.cfg)
	defaultPath, pid := sessionState(t, ts)
	require.Equal(t, `"$user", public`, defaultPath)

	rollback := errors.New("roll back")
	for round := range 3 {
		for _, tc := range []struct {
			tenant domain.Tenant
			schema string
			names  []string
		}{
			{acme, `"t_acme"`, []string{"acme-1", "acme-2"}},
			{globex, `"t_globex"`, []string{"globex-1"}},
		} {
			// Commit, then roll back: after either, the connection is back
			// to its own search_path.
			for _, want := range []error{nil, rollback} {
				err := ts.InTenantTx(t.Context(), tc.tenant, func(ctx context.Context, tx pgx.Tx) error {
					var path string
					var txPID int
					require.NoError(t, tx.QueryRow(ctx, `SELECT current_setting('search_path'), pg_backend_pid()`).Scan(&path, &txPID))
					require.Equal(t, tc.schema, path)
					require.Equal(t, pid, txPID, "one pinned connection")
					rows, err := tx.Query(ctx, `SELECT name FROM projects ORDER BY name`)
					require.NoError(t, err)
					got, err := pgx.CollectRows(rows, pgx.RowTo[string])
					require.NoError(t, err)
					require.Equal(t, tc.names, got, "round %d", round)
					return want
				})
				require.ErrorIs(t, err, want)
				path, afterPID := sessionState(t, ts)
				require.Equal(t, pid, afterPID)
				require.Equal(t, defaultPath, path, "no tenant left on the connection after the transaction")
			}
		}
	}
}

// ReadTenant's one statement runs with the tenant's search_path, in the
// implicit transaction of its pipeline: it sees that tenant's rows, the
// connection is back on its own search_path afterwards, and a second
// statement is refused rather than run on it.
func TestSchemaReadTenantLastsOneStatement(t *testing.T) {
	t.Parallel()
	b, acme, globex := acmeAndGlobex(t, 2)

	ts := pinned(t, b.cfg)
	requireReadsConfined(t, ts, acme, globex, func() (string, int) { return sessionState(t, ts) })
}

func TestSchemaMissingSchemaFailsClosed(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	acme := b.create(t, "acme")
	createProjects(t, b.tenants, acme, "acme", 1)

	_, err := connect(t, b.cfg.MigrateURL).Exec(t.Context(), `DROP SCHEMA "t_acme" CASCADE`)
	require.NoError(t, err)

	called := false
	err = b.tenants.InTenant(t.Context(), acme, func(context.Context, *postgres.Unit) error {
		called = true
		return nil
	})
	require.Equal(t, domain.EUNAVAILABLE, domain.ErrorCode(err), "%v", err)
	require.Contains(t, domain.ErrorMessage(err), "acme is unavailable")
	require.False(t, called, "nothing runs without the tenant's schema")
	err = b.tenants.ReadTenant(t.Context(), acme, func(ctx context.Context, q *tenantdb.Queries) error {
		_, qerr := q.ListProjects(ctx, firstPage(t, 10))
		return qerr
	})
	require.Equal(t, domain.EUNAVAILABLE, domain.ErrorCode(err), "a read too: %v", err)

	// Even hand-written SQL in a forged transaction finds no tenant table in
	// public to fall through to.
	var n int
	err = postgres.ControlPool(b.tenants).QueryRow(t.Context(),
		`SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relname = 'projects'`).Scan(&n)
	require.NoError(t, err)
	require.Zero(t, n, "public holds no tenant table")
}

// Unqualified names in a tenant transaction resolve in the tenant's schema
// only: not in public, not in another tenant's schema.
func TestSchemaUnqualifiedNamesStayInTheTenantSchema(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	acme, globex := b.create(t, "acme"), b.create(t, "globex")
	_, err := connect(t, b.cfg.MigrateURL).Exec(t.Context(), `CREATE TABLE "t_globex".globex_only (id int)`)
	require.NoError(t, err)
	report, err := b.tenants.MigrateTenants(t.Context(), postgres.MigrateOptions{}) // confines the new table
	require.NoError(t, err)
	require.Empty(t, report.Failed())

	query := func(tn domain.Tenant, sql string) error {
		return b.tenants.InTenantTx(t.Context(), tn, func(ctx context.Context, tx pgx.Tx) error {
			_, execErr := tx.Exec(ctx, sql)
			return execErr
		})
	}
	require.ErrorContains(t, query(acme, `SELECT * FROM globex_only`), `relation "globex_only" does not exist`)
	require.ErrorContains(t, query(acme, `SELECT * FROM tenants`), `relation "tenants" does not exist`,
		"the control plane is not on a tenant's path")
	require.NoError(t, query(globex, `SELECT * FROM globex_only`))
}

// Mid-migration, tenants' schemas differ. With pgx's default statement cache
// a statement prepared in one schema is reused in the next and Postgres
// refuses it; the pool's exec mode prepares nothing, so one connection
// serves both schemas, alternately, without an error.
func TestSchemaDivergentSchemasOnOneConnection(t *testing.T) {
	t.Parallel()
	b, acme, globex := acmeAndGlobex(t, 1)

	migrateAcmeAhead(t, b) // globex stays behind

	t.Run("the default statement cache fails", func(t *testing.T) {
		t.Parallel()
		conn, err := pgx.Connect(t.Context(), b.cfg.URL)
		require.NoError(t, err)
		defer func() { require.NoError(t, conn.Close(context.WithoutCancel(t.Context()))) }()
		errs := make([]error, 0, 2)
		for _, tn := range []domain.Tenant{acme, globex} {
			schema := "t_" + tn.Slug
			err := pgx.BeginFunc(t.Context(), conn, func(tx pgx.Tx) error {
				if _, err := tx.Exec(t.Context(), `SELECT set_config('search_path', $1, true), set_config('app.tenant_seal', $2, true)`,
					pgx.Identifier{schema}.Sanitize(), postgres.Seal(b.tenants, tn, time.Now())); err != nil {
					return err
				}
				_, err := tenantdb.New(tx).GetProject(t.Context(), acmeOrGlobexID(t, b, schema))
				return err
			})
			errs = append(errs, err)
		}
		require.NoError(t, errs[0])
		require.ErrorContains(t, errs[1], "cached plan must not change result type")
	})

	// Whatever query mode the URL asks for (config refuses the caching
	// ones; the pool does not rely on that), tenant transactions never
	// reuse a statement.
	for _, mode := range []string{"", "cache_statement", "cache_describe", "describe_exec", "simple_protocol"} {
		t.Run("exec mode serves both, URL mode "+cmp.Or(mode, "unset"), func(t *testing.T) {
			t.Parallel()
			cfg := b.cfg
			if mode != "" {
				cfg.URL += sep(cfg.URL) + "default_query_exec_mode=" + mode
			}
			ts := pinned(t, cfg)
			for range 3 {
				for _, tn := range []domain.Tenant{acme, globex} {
					got := listAll(t, ts, tn)
					require.Len(t, got, 1)
					require.True(t, strings.HasPrefix(got[0].Name, tn.Slug))
				}
			}
		})
	}
}

// readPage reads the first page of tn's projects with ReadTenant on ts,
// and requires each to be tn's.
func readPage(t *testing.T, ts *postgres.Tenants, tn domain.Tenant) []tenantdb.Project {
	t.Helper()
	var page []tenantdb.Project
	require.NoError(t, ts.ReadTenant(t.Context(), tn, func(ctx context.Context, q *tenantdb.Queries) error {
		var err error
		page, err = q.ListProjects(ctx, firstPage(t, 10))
		return err
	}))
	for _, p := range page {
		require.True(t, strings.HasPrefix(p.Name, tn.Slug), "%s read %q", tn.Slug, p.Name)
	}
	return page
}

// preparedReads returns, for each of slugs whose statement the one
// connection of ts holds prepared, how many times it ran; a tenant
// statement of no tenant in slugs fails the test.
func preparedReads(t *testing.T, ts *postgres.Tenants, slugs ...string) map[string]int64 {
	t.Helper()
	rows, err := postgres.ControlPool(ts).Query(t.Context(),
		`SELECT name, statement, generic_plans + custom_plans FROM pg_prepared_statements WHERE name LIKE 'tenant\_%'`)
	require.NoError(t, err)
	runs := map[string]int64{}
	for rows.Next() {
		var name, statement string
		var n int64
		require.NoError(t, rows.Scan(&name, &statement, &n))
		i := slices.IndexFunc(slugs, func(slug string) bool { return postgres.TenantStatementName(slug, statement) == name })
		require.NotEqual(t, -1, i, "statement %s is no tenant's of %v", name, slugs)
		runs[slugs[i]] = n
	}
	require.NoError(t, rows.Err())
	return runs
}

// A tenant read runs a statement prepared for its tenant's schema, once
// per schema and connection, and reused.
func TestSchemaReadsRunPreparedPerSchema(t *testing.T) {
	t.Parallel()
	b, acme, globex := acmeAndGlobex(t, 2)

	ts := pinned(t, b.cfg)
	for range 3 {
		require.Len(t, readPage(t, ts, acme), 2)
	}
	for range 2 {
		require.Len(t, readPage(t, ts, globex), 1)
	}
	require.Equal(t, map[string]int64{"acme": 3, "globex": 2}, preparedReads(t, ts, "acme", "globex"))
}

// A migration that changes what a prepared read returns (a column's type)
// does not fail the next read on a connection that prepared it before:
// the read runs again unprepared, and the next one prepares it afresh.
func TestSchemaPreparedReadOutlivesAMigration(t *testing.T) {
	t.Parallel()
	b, acme, globex := acmeAndGlobex(t, 1)
	ts := pinned(t, b.cfg)
	readPage(t, ts, acme)
	readPage(t, ts, globex)
	require.Equal(t, map[string]int64{"acme": 1, "globex": 1}, preparedReads(t, ts, "acme", "globex"))

	migrateAcmeAhead(t, b)

	require.Len(t, readPage(t, ts, acme), 1, "the read after the migration")
	require.Len(t, readPage(t, ts, acme), 1)
	require.Len(t, readPage(t, ts, globex), 1)
	require.Equal(t, map[string]int64{"acme": 1, "globex": 2}, preparedReads(t, ts, "acme", "globex"),
		"acme's statement prepared again after it failed, globex's untouched")
}

// A connection holds at most so many tenant statements: while it is full,
// a statement is prepared on its second miss, in place of the least
// recently used, which is deallocated.
func TestSchemaPreparedReadsAreBounded(t *testing.T) {
	t.Parallel()
	b, acme, globex := acmeAndGlobex(t, 1)
	ts := pinned(t, b.cfg)
	postgres.SetMaxTenantStatements(ts, 1)

	steps := []struct {
		read domain.Tenant
		want map[string]int64
	}{
		{acme, map[string]int64{"acme": 1}},
		{globex, map[string]int64{"acme": 1}}, // a first miss runs unprepared
		{acme, map[string]int64{"acme": 2}},
		{globex, map[string]int64{"globex": 1}}, // the second prepares, acme's goes
		{acme, map[string]int64{"globex": 1}},
		{globex, map[string]int64{"globex": 2}},
	}
	for i, step := range steps {
		require.Len(t, readPage(t, ts, step.read), 1)
		require.Equal(t, step.want, preparedReads(t, ts, "acme", "globex"), "after read %d, of %s", i+1, step.read.Slug)
	}
}

// While a connection is full, a statement missed again only after others
// missed in between (max/8 of them) is still not prepared: among many
// tenants each as likely as the next, it would be dropped before it ran
// again. Missed again at once, it is.
func TestSchemaPreparedOnlyWhenMissedAgainSoon(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	ts := pinned(t, b.cfg)
	const maxStatements = 8 // a window of one missed statement
	postgres.SetMaxTenantStatements(ts, maxStatements)
	slugs := make([]string, 0, maxStatements+2)
	tenants := make([]domain.Tenant, 0, maxStatements+2)
	for i := range maxStatements + 2 {
		slug := fmt.Sprintf("tenant-%d", i)
		slugs = append(slugs, slug)
		tenants = append(tenants, b.create(t, slug))
	}
	full, x, y := tenants[:maxStatements], tenants[maxStatements], tenants[maxStatements+1]
	for _, tn := range full {
		readPage(t, ts, tn)
	}
	require.Len(t, preparedReads(t, ts, slugs...), maxStatements, "prepared on their first miss while there was room")

	readPage(t, ts, x)
	readPage(t, ts, y) // pushes x out of the window
	readPage(t, ts, x)
	require.NotContains(t, preparedReads(t, ts, slugs...), x.Slug, "missed again, but not soon")
	readPage(t, ts, x)
	prepared := preparedReads(t, ts, slugs...)
	require.Contains(t, prepared, x.Slug, "missed again at once")
	require.Len(t, prepared, maxStatements)
	require.NotContains(t, prepared, full[0].Slug, "the least recently used made room")
}

// sharded opens a second registry on the same environment with n tenant
// shards beside a shared pool of one connection.
func sharded(t *testing.T, cfg config.Database, n int) *postgres.Tenants {
	t.Helper()
	cfg.URL += sep(cfg.URL) + "pool_max_conns=1"
	cfg.TenantShards = n
	return openTenants(t, cfg, postgres.TenantsOptions{})
}

// backend returns the backend that runs u's transaction.
func backend(ctx context.Context, u *postgres.Unit) (int, error) {
	var pid int
	err := u.Tx().QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid)
	return pid, err
}

// backendOf returns the backend that runs a transaction of tn on ts; it
// fails the test after waiting 10 s for a connection.
func backendOf(t *testing.T, ts *postgres.Tenants, tn domain.Tenant) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var pid int
	require.NoError(t, ts.InTenant(ctx, tn, func(ctx context.Context, u *postgres.Unit) error {
		var err error
		pid, err = backend(ctx, u)
		return err
	}), "a transaction of %s", tn.Slug)
	return pid
}

// Each tenant's transactions and reads run on the connection of its first
// shard while it is free, and its statements are prepared there, not on
// the shared pool's.
func TestSchemaTenantsArePinnedToShards(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	ts := sharded(t, b.cfg, 2)
	_, shared := sessionState(t, ts)

	// Tenants until each of the two shards is the first of two.
	var tenants []domain.Tenant
	var slugs []string
	perShard := [2]int{}
	for i := 0; perShard[0] < 2 || perShard[1] < 2; i++ {
		require.Less(t, i, 40, "40 tenants and a shard first for fewer than two")
		tn := b.create(t, fmt.Sprintf("tenant-%d", i))
		tenants, slugs = append(tenants, tn), append(slugs, tn.Slug)
		first, _ := postgres.TenantShards(tn.ID, 2)
		perShard[first]++
	}
	backends := map[int]int{} // shard: its backend
	for range 2 {
		for _, tn := range tenants {
			readPage(t, ts, tn)
			first, _ := postgres.TenantShards(tn.ID, 2)
			pid := backendOf(t, ts, tn)
			require.NotEqual(t, shared, pid, "%s ran on the shared pool", tn.Slug)
			if seen, ok := backends[first]; ok {
				require.Equal(t, seen, pid, "%s left its shard's connection", tn.Slug)
			}
			backends[first] = pid
		}
	}
	require.Len(t, backends, 2)
	require.NotEqual(t, backends[0], backends[1], "two shards, one connection")
	require.Empty(t, preparedReads(t, ts, slugs...), "the shared pool prepared a tenant's statement")
}

// A tenant's two shards differ, are spread over all shards, and are the
// same every time (any string stands in for an id).
func TestSchemaShardsOfATenant(t *testing.T) {
	t.Parallel()
	const n = 4
	firsts, seconds := map[int]int{}, map[int]int{}
	for range 400 {
		id := rand.Text()
		first, second := postgres.TenantShards(id, n)
		require.NotEqual(t, first, second)
		require.True(t, first >= 0 && first < n && second >= 0 && second < n, "%d, %d", first, second)
		again, secondAgain := postgres.TenantShards(id, n)
		require.Equal(t, []int{first, second}, []int{again, secondAgain})
		firsts[first]++
		seconds[second]++
	}
	for i := range n {
		require.Greater(t, firsts[i], 50, "first choices %v", firsts)
		require.Greater(t, seconds[i], 50, "second choices %v", seconds)
	}
	first, second := postgres.TenantShards(rand.Text(), 1)
	require.Equal(t, []int{0, 0}, []int{first, second}, "one shard is both")
}

// While a tenant's first shard's connection is busy, its next transaction
// and read run on its second shard's instead of waiting.
func TestSchemaABusyShardSendsItsTenantsToTheirSecond(t *testing.T) {
	t.Parallel()
	b, acme, _ := acmeAndGlobex(t, 1)
	ts := sharded(t, b.cfg, 2)
	_, shared := sessionState(t, ts)
	first := backendOf(t, ts, acme)
	require.NotEqual(t, shared, first)

	held, hold := make(chan struct{}), make(chan struct{})
	release := sync.OnceFunc(func() { close(hold) })
	t.Cleanup(release) // before ts closes, which waits for its connections
	done := make(chan error, 1)
	go func() {
		done <- ts.InTenant(context.WithoutCancel(t.Context()), acme, func(ctx context.Context, u *postgres.Unit) error {
			pid, err := backend(ctx, u)
			if err != nil {
				return err
			}
			if pid != first {
				return fmt.Errorf("the holder ran on %d, not the first shard's %d", pid, first)
			}
			close(held)
			<-hold
			return nil
		})
	}()
	select {
	case <-held:
	case err := <-done:
		t.Fatal(err)
	}

	pid := backendOf(t, ts, acme) // fails if it waits for the busy shard
	require.NotEqual(t, first, pid)
	require.NotEqual(t, shared, pid, "the second shard's connection, not the shared pool's")
	require.Len(t, readPage(t, ts, acme), 1, "a read too")
	release()
	require.NoError(t, <-done)
	require.Equal(t, first, backendOf(t, ts, acme), "back on the first once it is free")
}

// TENANT_SHARDS unset makes as many shards as DATABASE_URL's pool has
// connections; 0 makes none, and so does a query mode that prepares
// nothing, where pinning would buy nothing.
func TestSchemaHowManyShards(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	for _, tc := range []struct {
		name   string
		params string
		shards int
		want   int
	}{
		{"unset", "pool_max_conns=3", config.DefaultTenantShards, 3},
		{"set", "pool_max_conns=3", 5, 5},
		{"off", "pool_max_conns=3", 0, 0},
		{"exec mode", "default_query_exec_mode=exec", 2, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := b.cfg
			cfg.URL += sep(cfg.URL) + tc.params
			cfg.TenantShards = tc.shards
			require.Equal(t, tc.want, postgres.Shards(openTenants(t, cfg, postgres.TenantsOptions{})))
		})
	}
}

// migrateAcmeAhead gives acme one more migration than the others, which
// changes the type of its projects' name.
func migrateAcmeAhead(t *testing.T, b *tenantsBundle) {
	t.Helper()
	ahead := openTenants(t, b.cfg, postgres.TenantsOptions{Migrations: withMigration(t, "90000_name_varchar.sql", `-- +goose Up
ALTER TABLE projects ALTER COLUMN name TYPE varchar(200);
-- +goose Down
ALTER TABLE projects ALTER COLUMN name TYPE text;
`)})
	report, err := ahead.MigrateTenants(t.Context(), postgres.MigrateOptions{Slug: "acme"})
	require.NoError(t, err)
	require.Empty(t, report.Failed())
}

// acmeOrGlobexID returns the id of the one project in schema.
func acmeOrGlobexID(t *testing.T, b *tenantsBundle, schema string) pgtype.UUID {
	t.Helper()
	var id pgtype.UUID
	err := connect(t, b.cfg.MigrateURL).QueryRow(t.Context(),
		`SELECT id FROM `+pgx.Identifier{schema, "projects"}.Sanitize()).Scan(&id)
	require.NoError(t, err)
	return id
}

// A schema nobody registered is not taken over: creating its tenant is a
// conflict and the schema, with whatever it holds, stays.
func TestSchemaExistingSchemaIsNotTaken(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	owner := connect(t, b.cfg.MigrateURL)
	_, err := owner.Exec(t.Context(), `CREATE SCHEMA "t_acme"; CREATE TABLE "t_acme".precious (id int)`)
	require.NoError(t, err)

	_, err = b.tenants.Create(t.Context(), "acme", "Acme")
	require.Equal(t, domain.ECONFLICT, domain.ErrorCode(err), "%v", err)
	var n int
	err = owner.QueryRow(t.Context(), `SELECT count(*) FROM "t_acme".precious`).Scan(&n)
	require.NoError(t, err, "the schema and its table are still there")
}

// The remains of a creation that died half-way, schema included, are
// cleared up by the next creation of the slug.
func TestSchemaInterruptedCreationDropsTheLeftoverSchema(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	owner := connect(t, b.cfg.MigrateURL)
	_, err := owner.Exec(t.Context(), `
		INSERT INTO tenants (slug, name) VALUES ('acme', 'Died half-way');
		CREATE SCHEMA "t_acme";
		CREATE TABLE "t_acme".half_migrated (id int)`)
	require.NoError(t, err)

	b.create(t, "acme")
	var leftover bool
	err = owner.QueryRow(t.Context(), `SELECT to_regclass('"t_acme".half_migrated') IS NOT NULL`).Scan(&leftover)
	require.NoError(t, err)
	require.False(t, leftover)
}

// Slugs with hyphens and digits, and the longest slug, make schema names
// that survive quoting and are never truncated.
func TestSchemaNamesOfUnusualSlugs(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	longest := strings.Repeat("a", domain.SlugMaxLength-2) + "-1"
	for _, slug := range []string{"9-lives", "a-b-c", longest} {
		tn := b.create(t, slug)
		createProjects(t, b.tenants, tn, slug, 1)
		require.True(t, storageExists(t, b, slug), "schema t_%s, exactly", slug)
		require.Equal(t, []string{slug + "-1"}, names(listAll(t, b.tenants, tn)))
	}
	require.Len(t, "t_"+longest, 42)
}

// BenchmarkMigrate1000Schemas migrates 1,000 tenant schemas to one new
// migration (each iteration adds another), and then runs with nothing to
// apply, at the default concurrency.
//
//	go test ./internal/postgres -run '^$' -bench BenchmarkMigrate1000Schemas -benchtime 3x -timeout 30m
func BenchmarkMigrate1000Schemas(b *testing.B) {
	const n = 1000
	bundle := setupTenants(b)
	createTenants(b, bundle, n)
	migrations := embeddedTenantMigrations(b)
	version := 90000

	b.Run("one new migration", func(b *testing.B) {
		for b.Loop() {
			version++
			migrations[fmt.Sprintf("%d_bench.sql", version)] = &fstest.MapFile{Data: fmt.Appendf(nil,
				"-- +goose Up\nALTER TABLE projects ADD COLUMN bench_%d int;\n-- +goose Down\nALTER TABLE projects DROP COLUMN bench_%d;\n",
				version, version)}
			next := openTenants(b, bundle.cfg, postgres.TenantsOptions{Migrations: migrations})
			report, err := next.MigrateTenants(b.Context(), postgres.MigrateOptions{})
			require.NoError(b, err)
			require.Empty(b, report.Failed())
			require.Equal(b, n, report.Applied())
		}
	})
	b.Run("nothing to apply", func(b *testing.B) {
		next := openTenants(b, bundle.cfg, postgres.TenantsOptions{Migrations: migrations})
		for b.Loop() {
			report, err := next.MigrateTenants(b.Context(), postgres.MigrateOptions{})
			require.NoError(b, err)
			require.Len(b, report.Tenants, n)
			require.Zero(b, report.Applied())
		}
	})
}

// qualifiedName finds a relation named with a schema a tenant's SQL must
// never name: public (the control plane) or a tenant's t_<slug>.
var qualifiedName = regexp.MustCompile(`(?i)(\bpublic|"?\bt_[a-z0-9_-]*"?)\s*\.\s*"?[a-z_]`)

// The search path is schema mode's whole boundary: the app's role may read
// every tenant's schema (README, Tenancy), so the tenant SQL the app runs,
// its queries and its migrations (those `add resource` writes included),
// names its tables unqualified, to be found in the transaction's schema
// only. A qualified name fails here.
func TestTenantSQLNamesNoSchema(t *testing.T) {
	t.Parallel()
	dir := os.DirFS(".")
	files, err := fs.Glob(dir, "tenantdb/*.sql")
	require.NoError(t, err)
	migrations, err := fs.Glob(dir, "tenantmigrations/*.sql")
	require.NoError(t, err)
	files = append(files, migrations...)
	require.NotEmpty(t, files)
	for _, f := range files {
		sql, readErr := fs.ReadFile(dir, f)
		require.NoError(t, readErr)
		for i, line := range strings.Split(string(sql), "\n") {
			code, _, _ := strings.Cut(line, "--")
			require.False(t, qualifiedName.MatchString(code),
				"%s:%d names a schema (%q): tenant SQL must name its tables unqualified, so that the search path confines it", f, i+1, qualifiedName.FindString(code))
		}
	}
}

func TestQualifiedNameCatchesSchemas(t *testing.T) {
	t.Parallel()
	for _, sql := range []string{`SELECT * FROM public.tenants`, `SELECT * FROM "t_acme".projects`, `UPDATE t_acme . projects SET name = ''`, `JOIN PUBLIC."memberships"`} {
		require.True(t, qualifiedName.MatchString(sql), sql)
	}
	for _, sql := range []string{`SELECT p.created_at FROM projects p`, `SELECT sqlc.arg(after_id)`, `WHERE created_at < now()`} {
		require.False(t, qualifiedName.MatchString(sql), sql)
	}
}

// SQL run in one tenant's transaction, a handler's or a job's own, cannot
// reach another tenant's schema: naming it finds no row and writes none,
// putting it on the search_path changes nothing, a seal made up or made
// with another key fails, and the app's role can neither lift the policies
// nor read the seal's key.
func TestSchemaTenantCannotReachAnotherSchema(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	acme, globex := b.create(t, "acme"), b.create(t, "globex")
	createProjects(t, b.tenants, globex, "globex", 2)

	inAcme := func(sql string, args ...any) (int64, error) {
		var affected int64
		err := b.tenants.InTenantTx(t.Context(), acme, func(ctx context.Context, tx pgx.Tx) error {
			if strings.HasPrefix(sql, "SELECT count") {
				return tx.QueryRow(ctx, sql, args...).Scan(&affected)
			}
			tag, err := tx.Exec(ctx, sql, args...)
			affected = tag.RowsAffected()
			return err
		})
		return affected, err
	}
	for _, sql := range []string{
		`SELECT count(*) FROM "t_globex".projects`,
		`UPDATE "t_globex".projects SET name = 'stolen'`,
		`DELETE FROM "t_globex".projects`,
	} {
		n, err := inAcme(sql)
		require.NoError(t, err, sql)
		require.Zero(t, n, "%s reaches none of globex's rows", sql)
	}
	_, err := inAcme(`INSERT INTO "t_globex".projects (name) VALUES ('planted')`)
	require.ErrorContains(t, err, "row-level security", "a row planted in globex's schema is refused")

	n, err := inAcme(`SELECT count(*) FROM projects WHERE set_config('search_path', '"t_globex"', true) IS NOT NULL
		AND (SELECT count(*) FROM "t_globex".projects) > 0`)
	require.NoError(t, err)
	require.Zero(t, n, "globex's schema on the search_path shows none of its rows")

	forged := fmt.Sprintf("%s.%d.%s", globex.ID, time.Now().Add(time.Minute).Unix(), strings.Repeat("0", 64))
	for name, seal := range map[string]string{
		"made up":     forged,
		"another key": postgres.SealWithKey("another secret key of at least thirty-two bytes", globex, time.Now()),
		"expired":     postgres.Seal(b.tenants, globex, time.Now().Add(-postgres.SealLifetime-time.Minute)),
	} {
		_, err := inAcme(`SELECT count(*) FROM "t_globex".projects WHERE set_config('app.tenant_seal', $1, true) IS NOT NULL`, seal)
		require.ErrorContains(t, err, "tenant seal is not valid", "a seal %s", name)
	}

	for _, sql := range []string{
		`ALTER TABLE "t_globex".projects DISABLE ROW LEVEL SECURITY`,
		`DROP POLICY tenant_isolation ON "t_globex".projects`,
		`CREATE POLICY open ON "t_globex".projects USING (true)`,
		`SELECT count(*) FROM app_private.tenant_seal_key`,
		`CREATE SCHEMA t_squatter`,
	} {
		_, err := inAcme(sql)
		pgErr, ok := errors.AsType[*pgconn.PgError](err)
		require.True(t, ok, "%s: %v", sql, err)
		require.Equal(t, "42501", pgErr.Code, "%s: %v", sql, err)
	}

	require.Equal(t, []string{"globex-1", "globex-2"}, names(listAll(t, b.tenants, globex)), "globex's projects are untouched")
}

// Every table of every tenant's schema has row-level security and its
// policy, so a table a future migration adds is confined too, or the
// suite fails.
func TestSchemaEveryTenantTableIsConfined(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	b.create(t, "acme")
	rows, err := connect(t, b.cfg.MigrateURL).Query(t.Context(), `
		SELECT n.nspname || '.' || c.relname
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname LIKE 't\_%' AND c.relkind IN ('r', 'p') AND c.relname <> 'goose_db_version'
		  AND (NOT c.relrowsecurity OR NOT EXISTS (
		      SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname = 'tenant_isolation'
		        AND pg_get_expr(p.polqual, p.polrelid) LIKE '%app_tenant()%'
		        AND pg_get_expr(p.polwithcheck, p.polrelid) LIKE '%app_tenant()%'))`)
	require.NoError(t, err)
	open, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Empty(t, open, "tenant tables without the seal's policy")
	var tables int
	require.NoError(t, connect(t, b.cfg.MigrateURL).QueryRow(t.Context(),
		`SELECT count(*) FROM pg_class c WHERE c.relnamespace = '"t_acme"'::regnamespace AND c.relkind IN ('r', 'p')`).Scan(&tables))
	require.Greater(t, tables, 1, "the catalog query sees the tenant's tables")
}

// A schema the previous version left (no policy, no row-level security, no
// grants to the app's role, which owned it) is confined by the next
// migrate, and its rows are the tenant's again.
func TestSchemaMigrateConfinesASchemaFromBefore(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	acme := b.create(t, "acme")
	createProjects(t, b.tenants, acme, "acme", 1)
	app, err := pgx.ParseConfig(b.cfg.URL)
	require.NoError(t, err)
	role := pgx.Identifier{app.User}.Sanitize()
	_, err = connect(t, b.cfg.MigrateURL).Exec(t.Context(), `
		DROP POLICY tenant_isolation ON "t_acme".projects;
		ALTER TABLE "t_acme".projects DISABLE ROW LEVEL SECURITY;
		REVOKE ALL ON ALL TABLES IN SCHEMA "t_acme" FROM `+role+`;
		REVOKE USAGE ON SCHEMA "t_acme" FROM `+role)
	require.NoError(t, err)
	check, err := b.tenants.CheckTenants(t.Context(), postgres.MigrateOptions{})
	require.NoError(t, err)
	require.Len(t, check.Failed(), 1, "the app's role cannot read the version of a schema not confined yet")

	report, err := b.tenants.MigrateTenants(t.Context(), postgres.MigrateOptions{})
	require.NoError(t, err)
	require.Empty(t, report.Failed())
	require.Equal(t, []string{"acme-1"}, names(listAll(t, b.tenants, acme)))
	var secured, policy bool
	require.NoError(t, connect(t, b.cfg.MigrateURL).QueryRow(t.Context(), `
		SELECT c.relrowsecurity, EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname = 'tenant_isolation')
		FROM pg_class c WHERE c.oid = '"t_acme".projects'::regclass`).Scan(&secured, &policy))
	require.True(t, secured && policy, "row-level security and the policy are back")
}

package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/require"

	"ledger.internal/svc/internal/config"
	"ledger.internal/svc/internal/domain"
	"ledger.internal/svc/internal/logging"
	"ledger.internal/svc/internal/postgres"
	"ledger.internal/svc/internal/postgres/db"
	"ledger.internal/svc/internal/postgres/tenantdb"
	"ledger.internal/svc/internal/testsvc"
)

// Database mode, attacked directly: each tenant's transactions run on
// connections to its own database only, a missing database fails closed,
// an existing one is never taken over, and the pool cache stays bounded.

// storageExists reports whether the tenant's database exists.
func storageExists(t *testing.T, b *tenantsBundle, slug string) bool {
	t.Helper()
	var exists bool
	err := postgres.ControlPool(b.tenants).QueryRow(t.Context(),
		`SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, b.cfg.TenantDatabasePrefix+slug).Scan(&exists)
	require.NoError(t, err)
	return exists
}

// currentDatabase returns the database tn's transactions run in.
func currentDatabase(t *testing.T, ts *postgres.Tenants, tn domain.Tenant) string {
	t.Helper()
	var name string
	err := ts.InTenantTx(t.Context(), tn, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT current_database()`).Scan(&name)
	})
	require.NoError(t, err)
	return name
}

// Tenants alternate on the registry without any connection carrying one
// tenant into another's work: each tenant's transactions run in its own
// database, and the control plane's connection never leaves the control
// database.
func TestDatabaseEachTenantInItsOwnDatabase(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	acme, globex := b.create(t, "acme"), b.create(t, "globex")
	createProjects(t, b.tenants, acme, "acme", 2)
	createProjects(t, b.tenants, globex, "globex", 1)

	var control string
	require.NoError(t, postgres.ControlPool(b.tenants).QueryRow(t.Context(), `SELECT current_database()`).Scan(&control))
	for range 3 {
		require.Equal(t, b.cfg.TenantDatabasePrefix+"acme", currentDatabase(t, b.tenants, acme))
		require.Equal(t, []string{"acme-1", "acme-2"}, names(listAll(t, b.tenants, acme)))
		require.Equal(t, b.cfg.TenantDatabasePrefix+"globex", currentDatabase(t, b.tenants, globex))
		require.Equal(t, []string{"globex-1"}, names(listAll(t, b.tenants, globex)))
		var now string
		require.NoError(t, postgres.ControlPool(b.tenants).QueryRow(t.Context(), `SELECT current_database()`).Scan(&now))
		require.Equal(t, control, now)
	}
	var n int
	err := postgres.ControlPool(b.tenants).QueryRow(t.Context(),
		`SELECT count(*) FROM pg_class WHERE relname = 'projects'`).Scan(&n)
	require.NoError(t, err)
	require.Zero(t, n, "the control database holds no tenant table")

	// Hand-written SQL in acme's transaction cannot name globex's database:
	// Postgres has no cross-database queries, and refuses them with the
	// error text asserted below (its wording, not a gap in this code).
	err = b.tenants.InTenantTx(t.Context(), acme, func(ctx context.Context, tx pgx.Tx) error {
		_, execErr := tx.Exec(ctx, fmt.Sprintf(`SELECT * FROM %s.public.projects`, pgx.Identifier{b.cfg.TenantDatabasePrefix + "globex"}.Sanitize()))
		return execErr
	})
	require.ErrorContains(t, err, "cross-database references are not implemented")
}

func TestDatabaseMissingDatabaseFailsClosed(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	acme := b.create(t, "acme")
	createProjects(t, b.tenants, acme, "acme", 1)

	// A fresh registry, so no pool to the database is cached.
	ts := openTenants(t, b.cfg, postgres.TenantsOptions{})
	_, err := postgres.ControlPool(ts).Exec(t.Context(),
		"DROP DATABASE "+pgx.Identifier{b.cfg.TenantDatabasePrefix + "acme"}.Sanitize()+" WITH (FORCE)")
	require.NoError(t, err)

	called := false
	err = ts.InTenant(t.Context(), acme, func(context.Context, *postgres.Unit) error {
		called = true
		return nil
	})
	require.Equal(t, domain.EUNAVAILABLE, domain.ErrorCode(err), "%v", err)
	require.Contains(t, domain.ErrorMessage(err), "acme is unavailable")
	require.False(t, called)

	check, err := ts.CheckTenants(t.Context(), postgres.MigrateOptions{})
	require.NoError(t, err)
	require.Len(t, check.Behind(), 1, "a tenant without its database is reported")
}

// The database is dropped while the registry's pool to it holds open
// connections, which the drop ends: the very next transaction fails closed
// too, rather than on the dead connection with a 500.
func TestDatabaseDroppedUnderAnOpenPoolFailsClosed(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	acme := b.create(t, "acme")
	createProjects(t, b.tenants, acme, "acme", 1)
	require.Equal(t, 1, postgres.OpenPools(b.tenants))

	_, err := postgres.ControlPool(b.tenants).Exec(t.Context(),
		"DROP DATABASE "+pgx.Identifier{b.cfg.TenantDatabasePrefix + "acme"}.Sanitize()+" WITH (FORCE)")
	require.NoError(t, err)
	for range 2 {
		err = b.tenants.InTenant(t.Context(), acme, func(context.Context, *postgres.Unit) error {
			t.Fatal("nothing runs without the tenant's database")
			return nil
		})
		require.Equal(t, domain.EUNAVAILABLE, domain.ErrorCode(err), "%v", err)
	}
}

// readNames reads the names of tn's first ten projects with ReadTenant.
func readNames(t *testing.T, ts *postgres.Tenants, tn domain.Tenant) ([]string, error) {
	t.Helper()
	var got []string
	err := ts.ReadTenant(t.Context(), tn, func(ctx context.Context, q *tenantdb.Queries) error {
		page, err := q.ListProjects(ctx, firstPage(t, 10))
		got = names(page)
		return err
	})
	return got, err
}

// A tenant connection keeps a small statement cache and no description
// cache (pgx's defaults cost each of thousands of connections ~50 KB
// unused), unless DATABASE_URL chooses capacities, or a mode that needs
// descriptions: pgx refuses to connect in cache_describe mode without
// them. Reads and writes work in each case.
func TestDatabaseTenantConnectionsKeepSmallCaches(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	acme := b.create(t, "acme")
	cases := []struct {
		name                     string
		params                   url.Values
		statements, descriptions int
	}{
		{"defaults", nil, 128, 0},
		{"capacities chosen", url.Values{"statement_cache_capacity": {"16"}, "description_cache_capacity": {"8"}}, 16, 8},
		{"cache_describe", url.Values{"default_query_exec_mode": {"cache_describe"}}, 128, 512},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cfg := b.cfg
			u, err := url.Parse(cfg.URL)
			require.NoError(t, err)
			q := u.Query()
			maps.Copy(q, c.params)
			u.RawQuery = q.Encode()
			cfg.URL = u.String()
			ts := openTenants(t, cfg, postgres.TenantsOptions{})

			statements, descriptions, err := postgres.TenantConnCaches(t.Context(), ts, acme)
			require.NoError(t, err)
			require.Equal(t, c.statements, statements)
			require.Equal(t, c.descriptions, descriptions)
			createProjects(t, ts, acme, fmt.Sprintf("acme-%d", i), 1)
			got, err := readNames(t, ts, acme)
			require.NoError(t, err)
			require.Contains(t, got, fmt.Sprintf("acme-%d-1", i))
		})
	}
}

// BenchmarkTenantPoolMemory reports the heap an open tenant pool holds
// with its one connection, after a read: what a process pays for each
// tenant in use, up to TENANT_POOL_CACHE of them. Run it with -benchtime 1x.
func BenchmarkTenantPoolMemory(b *testing.B) {
	bundle := setupTenants(b)
	const pools = 21
	tenants := make([]domain.Tenant, pools)
	for i := range tenants {
		tn, err := bundle.tenants.Create(b.Context(), fmt.Sprintf("pool-%d", i), "Pool")
		require.NoError(b, err)
		tenants[i] = tn
	}
	cfg := bundle.cfg
	cfg.TenantPoolCache = pools
	var perPool float64
	for b.Loop() {
		ts := openTenants(b, cfg, postgres.TenantsOptions{})
		read := func(tn domain.Tenant) {
			err := ts.ReadTenant(b.Context(), tn, func(ctx context.Context, q *tenantdb.Queries) error {
				_, err := q.ListProjects(ctx, firstPage(b, 10))
				return err
			})
			require.NoError(b, err)
		}
		read(tenants[0]) // what every pool shares is made by the first
		before := liveHeap()
		for _, tn := range tenants[1:] {
			read(tn)
		}
		perPool = float64(liveHeap()-before) / (pools - 1)
		require.Equal(b, pools, postgres.OpenPools(ts))
	}
	b.ReportMetric(perPool/1024, "KB/pool")
}

// liveHeap is the heap in use after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// ReadTenant runs its one statement on the tenant's own pool, without a
// transaction of its own: tenants alternate and each reads its own rows, a
// second statement is refused, a read without a tenant never runs, a
// connection the server ended under an idle pool costs the read nothing,
// and a database dropped under the pool fails closed.
func TestDatabaseReadTenant(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	acme, globex := b.create(t, "acme"), b.create(t, "globex")
	createProjects(t, b.tenants, acme, "acme", 2)
	createProjects(t, b.tenants, globex, "globex", 1)
	for range 3 {
		got, err := readNames(t, b.tenants, acme)
		require.NoError(t, err)
		require.Equal(t, []string{"acme-1", "acme-2"}, got)
		got, err = readNames(t, b.tenants, globex)
		require.NoError(t, err)
		require.Equal(t, []string{"globex-1"}, got)
	}

	err := b.tenants.ReadTenant(t.Context(), acme, func(ctx context.Context, q *tenantdb.Queries) error {
		if _, err := q.ListProjects(ctx, firstPage(t, 10)); err != nil {
			return err
		}
		_, err := q.ListProjects(ctx, firstPage(t, 10))
		return err
	})
	require.ErrorContains(t, err, "ReadTenant runs one statement")
	err = b.tenants.ReadTenant(t.Context(), domain.Tenant{}, func(context.Context, *tenantdb.Queries) error {
		t.Fatal("no read without a tenant")
		return nil
	})
	require.Equal(t, domain.EINTERNAL, domain.ErrorCode(err), "%v", err)

	// The server ends the sessions of acme's idle pool (a restart, an
	// administrator): the pool does not know until a read finds out.
	var ended int
	err = postgres.ControlPool(b.tenants).QueryRow(t.Context(),
		`SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1`,
		b.cfg.TenantDatabasePrefix+"acme").Scan(&ended)
	require.NoError(t, err)
	require.Positive(t, ended, "acme's pool had a connection to end")
	got, err := readNames(t, b.tenants, acme)
	require.NoError(t, err, "a read on a dead connection runs again on a new one")
	require.Equal(t, []string{"acme-1", "acme-2"}, got)

	_, err = postgres.ControlPool(b.tenants).Exec(t.Context(),
		"DROP DATABASE "+pgx.Identifier{b.cfg.TenantDatabasePrefix + "acme"}.Sanitize()+" WITH (FORCE)")
	require.NoError(t, err)
	for range 2 {
		_, err = readNames(t, b.tenants, acme)
		require.Equal(t, domain.EUNAVAILABLE, domain.ErrorCode(err), "%v", err)
		require.Contains(t, domain.ErrorMessage(err), "acme is unavailable")
	}
}

// A database nobody registered is not taken over: creating its tenant is a
// conflict and the database stays.
func TestDatabaseExistingDatabaseIsNotTaken(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	name := b.cfg.TenantDatabasePrefix + "acme"
	_, err := postgres.ControlPool(b.tenants).Exec(t.Context(), "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	require.NoError(t, err)

	_, err = b.tenants.Create(t.Context(), "acme", "Acme")
	require.Equal(t, domain.ECONFLICT, domain.ErrorCode(err), "%v", err)
	require.True(t, storageExists(t, b, "acme"), "the database is still there")
}

// The control database's own name is never a tenant's.
func TestDatabaseControlDatabaseIsNeverATenant(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	u, err := url.Parse(b.cfg.URL)
	require.NoError(t, err)
	control := strings.TrimPrefix(u.Path, "/") // test_<random>: "test_" then 26 characters
	cfg := b.cfg
	cfg.TenantDatabasePrefix = "test_"
	ts := openTenants(t, cfg, postgres.TenantsOptions{})

	_, err = ts.Create(t.Context(), strings.TrimPrefix(control, "test_"), "Control")
	require.Equal(t, domain.ECONFLICT, domain.ErrorCode(err), "%v", err)
	require.NoError(t, ts.Ping(t.Context()), "the control database is untouched")
}

// Touching many tenants keeps at most TENANT_POOL_CACHE pools, and so a
// bounded number of connections to tenant databases.
func TestDatabasePoolCacheIsBounded(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	tenants := make([]domain.Tenant, 6)
	for i := range tenants {
		tenants[i] = b.create(t, fmt.Sprintf("tenant-%d", i))
	}
	cfg := b.cfg
	cfg.TenantPoolCache = 2
	ts := openTenants(t, cfg, postgres.TenantsOptions{})

	for range 2 {
		for _, tn := range tenants {
			createProjects(t, ts, tn, tn.Slug, 1)
			require.LessOrEqual(t, postgres.OpenPools(ts), 2)
		}
	}
	require.Eventually(t, func() bool {
		var conns int
		err := postgres.ControlPool(ts).QueryRow(t.Context(),
			`SELECT count(*) FROM pg_stat_activity WHERE starts_with(datname, $1) AND application_name = 'test'`,
			cfg.TenantDatabasePrefix).Scan(&conns)
		return err == nil && conns <= 2*cfg.TenantPoolMaxConns
	}, 10*time.Second, 50*time.Millisecond, "evicted pools closed their connections")
}

// A process whose tenant pools could open more connections than the
// server accepts says so when it starts, with what to change; one whose
// pools fit says nothing.
func TestDatabaseWarnsWhenPoolsOutgrowTheServer(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	var serverMax int
	err := postgres.ControlPool(b.tenants).QueryRow(t.Context(), `SELECT current_setting('max_connections')::int`).Scan(&serverMax)
	require.NoError(t, err)
	for _, c := range []struct {
		cache int
		warns bool
	}{{cache: 1, warns: false}, {cache: serverMax, warns: true}} {
		cfg := b.cfg
		cfg.TenantPoolCache, cfg.TenantPoolMaxConns = c.cache, 2
		logs := &testsvc.LogBuffer{}
		openTenants(t, cfg, postgres.TenantsOptions{Logger: logging.New(logs, slog.LevelDebug, logging.JSON)})
		warned := strings.Contains(logs.String(), "lower TENANT_POOL_CACHE")
		require.Equal(t, c.warns, warned, "TENANT_POOL_CACHE=%d against max_connections=%d: %s", c.cache, serverMax, logs)
		if warned {
			require.Contains(t, logs.String(), fmt.Sprintf(`"tenant_pool_cache":%d`, c.cache))
		}
	}
}

// A pool evicted while a transaction runs on it stays open until that
// transaction is done, then closes.
func TestDatabaseEvictionWaitsForTheLastUser(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	acme, globex, hooli := b.create(t, "acme"), b.create(t, "globex"), b.create(t, "hooli")
	cfg := b.cfg
	cfg.TenantPoolCache = 1
	ts := openTenants(t, cfg, postgres.TenantsOptions{})

	inside, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- ts.InTenant(t.Context(), acme, func(ctx context.Context, u *postgres.Unit) error {
			close(inside)
			<-release
			_, err := u.Queries.CreateProject(ctx, pgtype.Text{String: "survived eviction", Valid: true})
			return err
		})
	}()
	<-inside
	createProjects(t, ts, globex, "globex", 1) // evicts acme's pool, in use
	createProjects(t, ts, hooli, "hooli", 1)
	require.Equal(t, 2, postgres.OpenPools(ts), "hooli's, and acme's until its transaction ends")
	close(release)
	require.NoError(t, <-done)
	require.Equal(t, 1, postgres.OpenPools(ts))
	require.Equal(t, []string{"survived eviction"}, names(listAll(t, ts, acme)))
}

// Tenants alternate on one connection each (TENANT_POOL_MAX_CONNS=1),
// committing and rolling back: a rolled-back transaction leaves nothing in
// its tenant's database, and the next transaction, on the same connection,
// is in the same database and sees only what was committed.
// A handler that panics inside a tenant transaction (recovered above it,
// as the HTTP server's middleware does) gives its connection back, rolled
// back: the pool's single connection serves the next transaction, and the
// pool closes instead of waiting forever for it.
func TestDatabasePanicInATransactionGivesTheConnectionBack(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	acme := b.create(t, "acme")
	cfg := b.cfg
	cfg.TenantPoolMaxConns = 1
	ts, err := postgres.OpenTenants(t.Context(), cfg, postgres.TenantsOptions{AppName: "test"})
	require.NoError(t, err)

	func() {
		defer func() { require.Equal(t, "handler bug", recover()) }()
		_ = ts.InTenantTx(t.Context(), acme, func(ctx context.Context, tx pgx.Tx) error {
			_, createErr := tenantdb.New(tx).CreateProject(ctx, pgtype.Text{String: "never committed", Valid: true})
			require.NoError(t, createErr)
			panic("handler bug")
		})
	}()

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var names []string
	err = ts.InTenantTx(ctx, acme, func(ctx context.Context, tx pgx.Tx) error {
		rows, queryErr := tx.Query(ctx, `SELECT name FROM projects`)
		if queryErr != nil {
			return queryErr
		}
		names, queryErr = pgx.CollectRows(rows, pgx.RowTo[string])
		return queryErr
	})
	require.NoError(t, err, "the only connection is free again")
	require.Empty(t, names, "the panicking transaction was rolled back")

	closed := make(chan struct{})
	go func() {
		ts.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("closing the tenants waits for a connection never given back")
	}
}

func TestDatabaseAlternatingCommitAndRollback(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	acme, globex := b.create(t, "acme"), b.create(t, "globex")
	cfg := b.cfg
	cfg.TenantPoolMaxConns = 1
	ts := openTenants(t, cfg, postgres.TenantsOptions{})

	rollback := errors.New("roll back")
	pids := map[string]int{}
	committed := map[string][]string{}
	for round := range 3 {
		for _, tn := range []domain.Tenant{acme, globex} {
			for _, want := range []error{nil, rollback} {
				name := fmt.Sprintf("%s-%d-%v", tn.Slug, round, want == nil)
				err := ts.InTenantTx(t.Context(), tn, func(ctx context.Context, tx pgx.Tx) error {
					var database string
					var pid int
					require.NoError(t, tx.QueryRow(ctx, `SELECT current_database(), pg_backend_pid()`).Scan(&database, &pid))
					require.Equal(t, b.cfg.TenantDatabasePrefix+tn.Slug, database)
					if first, seen := pids[tn.Slug]; seen {
						require.Equal(t, first, pid, "one connection per tenant")
					}
					pids[tn.Slug] = pid
					if _, err := tenantdb.New(tx).CreateProject(ctx, pgtype.Text{String: name, Valid: true}); err != nil {
						return err
					}
					return want
				})
				require.ErrorIs(t, err, want)
				if want == nil {
					committed[tn.Slug] = append(committed[tn.Slug], name)
				}
				require.ElementsMatch(t, committed[tn.Slug], names(listAll(t, ts, tn)), "round %d", round)
			}
		}
	}
	require.NotEqual(t, pids["acme"], pids["globex"])
}

// The remains of a creation that died half-way, its database included (it
// was created, and half migrated, before the process died), are cleared up
// by the next creation of the slug: the leftover database is dropped and a
// new one made.
func TestDatabaseInterruptedCreationDropsTheLeftoverDatabase(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	name := b.cfg.TenantDatabasePrefix + "acme"
	_, err := db.New(postgres.ControlPool(b.tenants)).InsertTenant(t.Context(), db.InsertTenantParams{Slug: "acme", Name: "Died half-way"})
	require.NoError(t, err)
	_, err = postgres.ControlPool(b.tenants).Exec(t.Context(), "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	require.NoError(t, err)
	leftover := tenantDatabaseConn(t, b, name)
	_, err = leftover.Exec(t.Context(), `CREATE TABLE half_migrated (id int)`)
	require.NoError(t, err)
	require.NoError(t, leftover.Close(t.Context()))

	acme := b.create(t, "acme")
	require.Equal(t, "Tenant acme", acme.Name)
	err = b.tenants.InTenantTx(t.Context(), acme, func(ctx context.Context, tx pgx.Tx) error {
		var gone bool
		require.NoError(t, tx.QueryRow(ctx, `SELECT to_regclass('half_migrated') IS NULL`).Scan(&gone))
		require.True(t, gone, "the leftover database was dropped, not reused")
		return nil
	})
	require.NoError(t, err)
	createProjects(t, b.tenants, acme, "after-recovery", 1)
}

// tenantDatabaseConn connects to database name on the test's server.
func tenantDatabaseConn(t *testing.T, b *tenantsBundle, name string) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(b.cfg.URL)
	require.NoError(t, err)
	cfg.Database = name
	conn, err := pgx.ConnectConfig(t.Context(), cfg)
	require.NoError(t, err)
	return conn
}

// The longest prefix TENANT_DATABASE_PREFIX allows and the longest slug make
// a database name of exactly 63 bytes, Postgres' limit: never truncated, so
// two long slugs that differ only in their last character get two databases.
func TestDatabaseLongestNames(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	cfg := b.cfg
	// Starts with the test's own prefix, so the test's cleanup drops them.
	cfg.TenantDatabasePrefix += strings.Repeat("x", config.MaxTenantDatabasePrefix-len(cfg.TenantDatabasePrefix))
	require.Len(t, cfg.TenantDatabasePrefix, config.MaxTenantDatabasePrefix)
	ts := openTenants(t, cfg, postgres.TenantsOptions{})

	stem := strings.Repeat("a", domain.SlugMaxLength-1)
	for _, slug := range []string{stem + "1", stem + "2"} {
		tn, err := ts.Create(t.Context(), slug, "Long")
		require.NoError(t, err, slug)
		createProjects(t, ts, tn, slug[len(slug)-1:], 1)
		database := currentDatabase(t, ts, tn)
		require.Len(t, database, 63)
		require.Equal(t, cfg.TenantDatabasePrefix+slug, database, "never truncated")
	}
	for _, slug := range []string{stem + "1", stem + "2"} {
		tn, err := ts.Resolve(t.Context(), slug)
		require.NoError(t, err)
		require.Equal(t, []string{slug[len(slug)-1:] + "-1"}, names(listAll(t, ts, tn)), "each sees only its own")
	}
}

package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/require"

	"example.com/acme/internal/config"
	"example.com/acme/internal/domain"
	"example.com/acme/internal/postgres"
	"example.com/acme/internal/postgres/db"
	"example.com/acme/internal/postgres/tenantdb"
	"example.com/acme/internal/testsvc"
)

// These tests hold every tenancy mode to the same contract: they use only
// what the code above the data layer uses. Each mode's own file
// (tenant_schema_test.go) attacks its mechanism directly.

// tenantsBundle is what a tenancy test gets: a fresh, migrated environment.
type tenantsBundle struct {
	cfg     config.Database
	tenants *postgres.Tenants
}

// setupTenants prepares a fresh environment as `migrate` would, and opens
// the tenant registry on it.
func setupTenants(tb testing.TB) *tenantsBundle {
	tb.Helper()
	cfg := testsvc.NewTenancyConfig(tb)
	migrateControlPlane(tb, cfg)
	b := &tenantsBundle{cfg: cfg, tenants: openTenants(tb, cfg, postgres.TenantsOptions{})}
	report, err := b.tenants.MigrateTenants(tb.Context(), postgres.MigrateOptions{})
	require.NoError(tb, err)
	require.Empty(tb, report.Failed())
	return b
}

func migrateControlPlane(tb testing.TB, cfg config.Database) {
	tb.Helper()
	pool, err := postgres.Open(tb.Context(), cfg.MigrateURL, "test-migrate")
	require.NoError(tb, err)
	defer pool.Close()
	m, err := postgres.NewMigrator(pool)
	require.NoError(tb, err)
	defer func() { require.NoError(tb, m.Close()) }()
	_, err = m.Up(tb.Context())
	require.NoError(tb, err)
}

// connect opens a plain connection, outside the registry.
func connect(t *testing.T, databaseURL string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), databaseURL)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.WithoutCancel(t.Context())) })
	return conn
}

// pinned opens a second registry on the same environment whose pool has a
// single connection, so every transaction below runs on it (no tenant
// is pinned to a shard of its own).
func pinned(t *testing.T, cfg config.Database) *postgres.Tenants {
	t.Helper()
	cfg.URL += sep(cfg.URL) + "pool_max_conns=1"
	cfg.TenantShards = 0
	return openTenants(t, cfg, postgres.TenantsOptions{})
}

// sep is what comes before one more parameter of url.
func sep(url string) string {
	if strings.Contains(url, "?") {
		return "&"
	}
	return "?"
}

func openTenants(tb testing.TB, cfg config.Database, opts postgres.TenantsOptions) *postgres.Tenants {
	tb.Helper()
	opts.AppName = "test"
	ts, err := postgres.OpenTenants(tb.Context(), cfg, opts)
	require.NoError(tb, err)
	tb.Cleanup(ts.Close)
	return ts
}

// create creates a tenant and requires success.
func (b *tenantsBundle) create(t *testing.T, slug string) domain.Tenant {
	t.Helper()
	tn, err := b.tenants.Create(t.Context(), slug, "Tenant "+slug)
	require.NoError(t, err, slug)
	return tn
}

// firstPage is the parameters of the first page of n projects, oldest
// first.
func firstPage(tb testing.TB, n int32) tenantdb.ListProjectsParams {
	tb.Helper()
	p := tenantdb.ListProjectsParams{MaxItems: n}
	require.NoError(tb, p.AfterCreatedAt.Scan("-infinity"))
	require.NoError(tb, p.AfterID.Scan("00000000-0000-0000-0000-000000000000"))
	return p
}

// requireReadsConfined reads acme's projects (acme-1, acme-2) and globex's
// (globex-1) in turn with ReadTenant on ts, whose pool is one pinned
// connection: each read sees its tenant's rows only, and after each the
// connection is as it was before, as left reports it (what the tenant
// scope sets, and the backend pid). A second statement in one read is
// refused, and a read without a tenant never runs.
func requireReadsConfined(t *testing.T, ts *postgres.Tenants, acme, globex domain.Tenant, left func() (state string, pid int)) {
	t.Helper()
	before, pid := left()
	for round := range 3 {
		for _, tc := range []struct {
			tenant domain.Tenant
			names  []string
		}{
			{acme, []string{"acme-1", "acme-2"}},
			{globex, []string{"globex-1"}},
		} {
			var got []string
			err := ts.ReadTenant(t.Context(), tc.tenant, func(ctx context.Context, q *tenantdb.Queries) error {
				page, err := q.ListProjects(ctx, firstPage(t, 10))
				for _, p := range page {
					got = append(got, p.Name)
				}
				return err
			})
			require.NoError(t, err)
			require.Equal(t, tc.names, got, "round %d", round)
			after, afterPID := left()
			require.Equal(t, pid, afterPID, "one pinned connection")
			require.Equal(t, before, after, "nothing of the tenant left on the connection after the read")
		}
	}

	err := ts.ReadTenant(t.Context(), acme, func(ctx context.Context, q *tenantdb.Queries) error {
		if _, err := q.ListProjects(ctx, firstPage(t, 10)); err != nil {
			return err
		}
		_, err := q.ListProjects(ctx, firstPage(t, 10))
		return err
	})
	require.ErrorContains(t, err, "ReadTenant runs one statement")
	called := false
	err = ts.ReadTenant(t.Context(), domain.Tenant{}, func(context.Context, *tenantdb.Queries) error {
		called = true
		return nil
	})
	require.Equal(t, domain.EINTERNAL, domain.ErrorCode(err), "%v", err)
	require.False(t, called, "no read without a tenant")
}

// createProjects creates projects named prefix-1 ... prefix-n in tn, one
// transaction each (so their creation times, which order lists, differ).
func createProjects(t *testing.T, ts *postgres.Tenants, tn domain.Tenant, prefix string, n int) []tenantdb.Project {
	t.Helper()
	out := make([]tenantdb.Project, 0, n)
	for i := range n {
		err := ts.InTenant(t.Context(), tn, func(ctx context.Context, u *postgres.Unit) error {
			p, err := u.Queries.CreateProject(ctx, pgtype.Text{String: fmt.Sprintf("%s-%d", prefix, i+1), Valid: true})
			out = append(out, p)
			return err
		})
		require.NoError(t, err)
	}
	return out
}

// listAll pages through every project tn sees, two at a time.
func listAll(t *testing.T, ts *postgres.Tenants, tn domain.Tenant) []tenantdb.Project {
	t.Helper()
	var all []tenantdb.Project
	after := firstPage(t, 2)
	for {
		var page []tenantdb.Project
		err := ts.InTenant(t.Context(), tn, func(ctx context.Context, u *postgres.Unit) error {
			var err error
			page, err = u.Queries.ListProjects(ctx, after)
			return err
		})
		require.NoError(t, err)
		all = append(all, page...)
		if len(page) < 2 {
			return all
		}
		last := page[len(page)-1]
		after.AfterCreatedAt, after.AfterID = last.CreatedAt, last.ID
	}
}

func names(projects []tenantdb.Project) []string {
	out := make([]string, len(projects))
	for i, p := range projects {
		out[i] = p.Name
	}
	return out
}

func TestCreateResolveAndList(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)

	acme := b.create(t, "acme")
	require.NotEmpty(t, acme.ID)
	require.Equal(t, "Tenant acme", acme.Name)
	b.create(t, "globex")

	got, err := b.tenants.Resolve(t.Context(), "acme")
	require.NoError(t, err)
	require.Equal(t, acme.ID, got.ID)

	_, err = b.tenants.Resolve(t.Context(), "initech")
	require.Equal(t, domain.ENOTFOUND, domain.ErrorCode(err))

	list, err := b.tenants.List(t.Context(), "", 10)
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.Equal(t, "acme", list[0].Slug)
	list, err = b.tenants.List(t.Context(), "acme", 10)
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, "globex", list[0].Slug)
}

// Slugs are checked before anything reaches Postgres: hostile ones are
// refused with EINVALID and leave nothing behind; resolving them is a plain
// not-found that never errors inside the database.
// A DATABASE_URL may carry pgx's pool parameters (pool_max_conns=2): the
// connections the app opens besides the pool (provisioning, migrating
// tenants) take the same URL and work.
func TestPoolParametersInTheURL(t *testing.T) {
	t.Parallel()
	cfg := testsvc.NewTenancyConfig(t)
	withPoolParams := func(u string) string {
		sep := "?"
		if strings.Contains(u, "?") {
			sep = "&"
		}
		return u + sep + "pool_max_conns=2&pool_min_conns=0"
	}
	cfg.URL, cfg.MigrateURL, cfg.SessionURL = withPoolParams(cfg.URL), withPoolParams(cfg.MigrateURL), withPoolParams(cfg.SessionURL)
	migrateControlPlane(t, cfg)
	b := &tenantsBundle{cfg: cfg, tenants: openTenants(t, cfg, postgres.TenantsOptions{})}
	report, err := b.tenants.MigrateTenants(t.Context(), postgres.MigrateOptions{})
	require.NoError(t, err)
	require.Empty(t, report.Failed())
	acme := b.create(t, "acme")
	createProjects(t, b.tenants, acme, "p", 2)
	report, err = b.tenants.MigrateTenants(t.Context(), postgres.MigrateOptions{})
	require.NoError(t, err)
	require.Empty(t, report.Failed())
}

// A page of projects is read from the index in the index's order, in
// either direction: never every project of the tenant sorted, so a page
// costs the same however many projects there are.
func TestListReadsAPageFromTheIndex(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	tn := b.create(t, "acme")
	createProjects(t, b.tenants, tn, "acme", 3)
	q := &explaining{}
	err := b.tenants.InTenantTx(t.Context(), tn, func(ctx context.Context, tx pgx.Tx) error {
		// Three rows are cheaper to sort than to read in order: make a sort
		// cost what it would on a big table.
		if _, err := tx.Exec(ctx, "SET LOCAL enable_sort = off"); err != nil {
			return err
		}
		q.Tx = tx
		asc := tenantdb.ListProjectsParams{MaxItems: 2}
		desc := tenantdb.ListProjectsDescParams{MaxItems: 2}
		err := errors.Join(asc.AfterCreatedAt.Scan("-infinity"), asc.AfterID.Scan("00000000-0000-0000-0000-000000000000"),
			desc.AfterCreatedAt.Scan("infinity"), desc.AfterID.Scan("ffffffff-ffff-ffff-ffff-ffffffffffff"))
		if err != nil {
			return err
		}
		up, err := tenantdb.New(q).ListProjects(ctx, asc)
		if err != nil {
			return err
		}
		down, err := tenantdb.New(q).ListProjectsDesc(ctx, desc)
		if err != nil {
			return err
		}
		require.Equal(t, []string{"acme-1", "acme-2"}, names(up))
		require.Equal(t, []string{"acme-3", "acme-2"}, names(down))
		return nil
	})
	require.NoError(t, err)
	require.Len(t, q.plans, 2)
	for _, plan := range q.plans {
		require.Contains(t, plan, "Index", plan)
		require.NotContains(t, plan, "Sort", plan)
	}
}

// explaining runs each query of a transaction after recording the plan a
// prepared statement of it gets once Postgres settles on a generic plan
// (the one that has to serve any parameters: a custom plan may fold them
// away and hide a sort).
type explaining struct {
	pgx.Tx
	plans []string
}

func (e *explaining) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	values := make([]string, len(args))
	for i, arg := range args {
		switch v := arg.(type) {
		case pgtype.Timestamptz:
			values[i] = map[pgtype.InfinityModifier]string{pgtype.Infinity: "'infinity'", pgtype.NegativeInfinity: "'-infinity'"}[v.InfinityModifier]
		case pgtype.UUID:
			values[i] = "'" + v.String() + "'"
		default:
			values[i] = fmt.Sprint(v)
		}
	}
	if _, err := e.Exec(ctx, "SET LOCAL plan_cache_mode = force_generic_plan; PREPARE explained AS "+sql); err != nil {
		return nil, err
	}
	rows, err := e.Tx.Query(ctx, "EXPLAIN EXECUTE explained("+strings.Join(values, ", ")+")")
	if err != nil {
		return nil, err
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	if _, err := e.Exec(ctx, "DEALLOCATE explained; RESET plan_cache_mode"); err != nil {
		return nil, err
	}
	e.plans = append(e.plans, strings.Join(lines, "\n"))
	return e.Tx.Query(ctx, sql, args...)
}

func TestHostileSlugsAreRefused(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)

	for _, slug := range []string{
		`acme"; DROP SCHEMA public CASCADE; --`,
		"acme'; DROP DATABASE postgres; --",
		"x' OR '1'='1",
		`t_acme"."projects`,
		"ACME", "Acme",
		"acme\x00", "acme\n",
		"a", "www", "public", "admin",
		"-acme", "acme-", "ac--me",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", // 41
		"ａｃｍｅ", // full-width letters
	} {
		_, err := b.tenants.Create(t.Context(), slug, "Hostile")
		require.Equal(t, domain.EINVALID, domain.ErrorCode(err), "%q: %v", slug, err)

		_, err = b.tenants.Resolve(t.Context(), slug)
		require.Equal(t, domain.ENOTFOUND, domain.ErrorCode(err), "%q: %v", slug, err)
	}
	list, err := b.tenants.List(t.Context(), "", 100)
	require.NoError(t, err)
	require.Empty(t, list)

	_, err = b.tenants.Create(t.Context(), "acme", "")
	require.Equal(t, domain.EINVALID, domain.ErrorCode(err), "a tenant needs a name")
}

func TestTakenSlugIsAConflict(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)

	b.create(t, "acme")
	_, err := b.tenants.Create(t.Context(), "acme", "Acme again")
	require.Equal(t, domain.ECONFLICT, domain.ErrorCode(err), "%v", err)
}

// Racing creations of one slug: exactly one wins, the rest are conflicts,
// and the winner is whole.
func TestConcurrentCreationsOfOneSlug(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)

	const racers = 5
	errs := make([]error, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			_, errs[i] = b.tenants.Create(t.Context(), "acme", "Acme")
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
			continue
		}
		require.Equal(t, domain.ECONFLICT, domain.ErrorCode(err), "%v", err)
	}
	require.Equal(t, 1, won)
	acme, err := b.tenants.Resolve(t.Context(), "acme")
	require.NoError(t, err)
	createProjects(t, b.tenants, acme, "works", 1)
}

// failingMigrations are the embedded tenant migrations plus one that fails.
func failingMigrations(t *testing.T) fs.FS {
	t.Helper()
	fsys := embeddedTenantMigrations(t)
	fsys["90000_fails.sql"] = &fstest.MapFile{Data: []byte(`-- +goose Up
CREATE TABLE half_done (id int);
SELECT 1 / 0;
`)}
	return fsys
}

// withMigration returns the embedded tenant migrations plus one more.
func withMigration(tb testing.TB, name, sql string) fstest.MapFS {
	tb.Helper()
	fsys := embeddedTenantMigrations(tb)
	fsys[name] = &fstest.MapFile{Data: []byte(sql)}
	return fsys
}

// embeddedTenantMigrations copies the tenant migrations shipped in the repo.
func embeddedTenantMigrations(tb testing.TB) fstest.MapFS {
	tb.Helper()
	dir := os.DirFS("tenantmigrations")
	names, err := fs.Glob(dir, "*.sql")
	require.NoError(tb, err)
	require.NotEmpty(tb, names)
	out := fstest.MapFS{}
	for _, name := range names {
		data, err := fs.ReadFile(dir, name)
		require.NoError(tb, err)
		out[name] = &fstest.MapFile{Data: data}
	}
	return out
}

// A tenant whose migrations fail part-way is not created at all: no tenant
// row in any state, no storage, and the slug is free to try again.
func TestFailedProvisioningLeavesNoHalfTenant(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	failing := openTenants(t, b.cfg, postgres.TenantsOptions{Migrations: failingMigrations(t)})

	_, err := failing.Create(t.Context(), "acme", "Acme")
	require.Error(t, err)

	_, err = b.tenants.Resolve(t.Context(), "acme")
	require.Equal(t, domain.ENOTFOUND, domain.ErrorCode(err))
	_, err = db.New(postgres.ControlPool(b.tenants)).GetTenantBySlug(t.Context(), "acme")
	require.ErrorIs(t, err, pgx.ErrNoRows, "no tenant row, not even one still provisioning")
	require.False(t, storageExists(t, b, "acme"), "the storage made for acme was removed")

	acme := b.create(t, "acme")
	createProjects(t, b.tenants, acme, "second-try", 1)
}

// The last step fails, after the storage was made and migrated: the owner
// (here a user who does not exist) cannot be made a member. The activation
// rolls back and the creation is undone as a whole.
func TestFailedActivationLeavesNoHalfTenant(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)

	_, err := b.tenants.CreateOwned(t.Context(), "acme", "Acme", "0b6f3c8e-9d1a-4f2b-8c3d-5e6f7a8b9c0d")
	require.Error(t, err)
	require.ErrorContains(t, err, "activate tenant")

	_, err = db.New(postgres.ControlPool(b.tenants)).GetTenantBySlug(t.Context(), "acme")
	require.ErrorIs(t, err, pgx.ErrNoRows, "no tenant row, in any state")
	require.False(t, storageExists(t, b, "acme"), "the storage made for acme was removed")
	_, err = b.tenants.Resolve(t.Context(), "acme")
	require.Equal(t, domain.ENOTFOUND, domain.ErrorCode(err))

	acme := b.create(t, "acme")
	createProjects(t, b.tenants, acme, "second-try", 1)
}

// A creation that died half-way (the process was killed) leaves a row
// still provisioning; it never resolves, and the next creation of the slug
// clears it up and succeeds.
func TestInterruptedCreationIsClearedUp(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	q := db.New(postgres.ControlPool(b.tenants))
	_, err := q.InsertTenant(t.Context(), db.InsertTenantParams{Slug: "acme", Name: "Died half-way"})
	require.NoError(t, err)

	_, err = b.tenants.Resolve(t.Context(), "acme")
	require.Equal(t, domain.ENOTFOUND, domain.ErrorCode(err), "a tenant still provisioning is not served")

	acme := b.create(t, "acme")
	require.Equal(t, "Tenant acme", acme.Name)
	createProjects(t, b.tenants, acme, "after-recovery", 1)
}

// The heart of it: each tenant sees its own rows and no other's, whether
// listing, paging or fetching by another tenant's ids.
func TestTenantsSeeOnlyTheirOwnData(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	acme, globex := b.create(t, "acme"), b.create(t, "globex")

	acmeProjects := createProjects(t, b.tenants, acme, "acme", 5)
	globexProjects := createProjects(t, b.tenants, globex, "globex", 3)

	require.Equal(t, []string{"acme-1", "acme-2", "acme-3", "acme-4", "acme-5"}, names(listAll(t, b.tenants, acme)))
	require.Equal(t, []string{"globex-1", "globex-2", "globex-3"}, names(listAll(t, b.tenants, globex)))

	for _, p := range globexProjects {
		err := b.tenants.InTenant(t.Context(), acme, func(ctx context.Context, u *postgres.Unit) error {
			_, err := u.Queries.GetProject(ctx, p.ID)
			return err
		})
		require.ErrorIs(t, err, pgx.ErrNoRows, "acme must not see globex's project %s", p.ID.String())
	}
	err := b.tenants.InTenant(t.Context(), globex, func(ctx context.Context, u *postgres.Unit) error {
		got, err := u.Queries.GetProject(ctx, acmeProjects[0].ID)
		require.ErrorIs(t, err, pgx.ErrNoRows)
		require.Empty(t, got.Name)
		return nil
	})
	require.NoError(t, err)
}

// fn's error rolls the transaction back: nothing it wrote stays.
func TestInTenantRollsBackOnError(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	acme := b.create(t, "acme")

	boom := errors.New("boom")
	err := b.tenants.InTenant(t.Context(), acme, func(ctx context.Context, u *postgres.Unit) error {
		if _, err := u.Queries.CreateProject(ctx, pgtype.Text{String: "doomed", Valid: true}); err != nil {
			return err
		}
		return boom
	})
	require.ErrorIs(t, err, boom)
	require.Empty(t, listAll(t, b.tenants, acme))
}

// There is no tenant-less way in: a zero or forged tenant is refused before
// any SQL runs.
func TestInTenantRefusesMissingOrForgedTenants(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)

	for _, forged := range []domain.Tenant{
		{},
		{Slug: "acme"},
		{ID: "3f8c6c1e-7a1b-4c55-9d59-1c0a2b3c4d5e", Slug: `acme"; DROP SCHEMA public; --`},
		{ID: "3f8c6c1e-7a1b-4c55-9d59-1c0a2b3c4d5e", Slug: "ACME"},
	} {
		called := false
		err := b.tenants.InTenant(t.Context(), forged, func(context.Context, *postgres.Unit) error {
			called = true
			return nil
		})
		require.Equal(t, domain.EINTERNAL, domain.ErrorCode(err), "%+v", forged)
		require.False(t, called)
	}
}

// changeUnheard runs update on the tenants table as its owner with the
// notifying trigger off: a change no process hears of, as when their
// listeners are down.
func (b *tenantsBundle) changeUnheard(t *testing.T, update string) {
	t.Helper()
	owner, err := pgx.Connect(t.Context(), b.cfg.MigrateURL)
	require.NoError(t, err)
	defer func() { require.NoError(t, owner.Close(context.WithoutCancel(t.Context()))) }()
	err = pgx.BeginFunc(t.Context(), owner, func(tx pgx.Tx) error {
		_, execErr := tx.Exec(t.Context(), `ALTER TABLE tenants DISABLE TRIGGER tenants_notify_changed;
			`+update+`;
			ALTER TABLE tenants ENABLE TRIGGER tenants_notify_changed`)
		return execErr
	})
	require.NoError(t, err)
}

// A resolved tenant is cached. A change nobody hears of (made here with the
// notifying trigger off) is seen within the resolve TTL, the backstop, once
// the listener is down; unknown slugs are never cached, so a new tenant
// resolves at once.
func TestResolveCacheExpires(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	// Long enough for the change below to be made well within it on a busy
	// machine, short enough for the test.
	ts := openTenants(t, b.cfg, postgres.TenantsOptions{ResolveTTL: 4 * time.Second, ListeningTTL: time.Hour})

	_, err := ts.Resolve(t.Context(), "acme")
	require.Equal(t, domain.ENOTFOUND, domain.ErrorCode(err))
	acme := b.create(t, "acme")
	got, err := ts.Resolve(t.Context(), "acme")
	require.NoError(t, err, "unknown slugs are not cached: a new tenant resolves at once")
	require.Equal(t, acme.ID, got.ID)
	// Listening starts with a clean cache; cache acme after that.
	postgres.WaitListening(t, ts)
	_, err = ts.Resolve(t.Context(), "acme")
	require.NoError(t, err)
	require.True(t, postgres.Cached(ts, "acme"))
	postgres.StopListening(ts)

	b.changeUnheard(t, `UPDATE tenants SET state = 'suspended' WHERE slug = 'acme'`)
	_, err = ts.Resolve(t.Context(), "acme")
	require.NoError(t, err, "still cached: nobody heard of the change")
	require.Eventually(t, func() bool {
		_, err := ts.Resolve(t.Context(), "acme")
		return domain.ErrorCode(err) == domain.ENOTFOUND
	}, 15*time.Second, 20*time.Millisecond, "the cache entry expires")
}

// While the listener hears (its heartbeat probes come back), a cached
// tenant outlives the resolve TTL: every change reaches it by
// notification. A change that sends none is still picked up within the
// listening TTL, the backstop for changes made with the trigger off.
func TestAListeningCacheOutlivesTheResolveTTL(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	// A heartbeat every 1.5 s proves the listener hears well within the
	// 6 s resolve TTL, even on a busy machine.
	const ttl, listening = 6 * time.Second, 18 * time.Second
	ts := openTenants(t, b.cfg, postgres.TenantsOptions{ResolveTTL: ttl, ListeningTTL: listening})
	b.create(t, "acme")
	_, err := ts.Resolve(t.Context(), "acme")
	require.NoError(t, err)
	postgres.WaitListening(t, ts) // the listener clears the cache as it starts
	_, err = ts.Resolve(t.Context(), "acme")
	require.NoError(t, err)
	read := time.Now()
	probes := postgres.WatchProbes(ts)

	b.changeUnheard(t, `UPDATE tenants SET name = 'Acme Renamed' WHERE slug = 'acme'`)
	time.Sleep(time.Until(read.Add(ttl + time.Second)))
	require.Greater(t, postgres.WatchProbes(ts), probes, "the heartbeat probed meanwhile")
	got, err := ts.Resolve(t.Context(), "acme")
	require.NoError(t, err)
	require.NotEqual(t, "Acme Renamed", got.Name, "past the resolve TTL, still from the cache")
	require.Eventually(t, func() bool {
		got, err := ts.Resolve(t.Context(), "acme")
		return err == nil && got.Name == "Acme Renamed"
	}, time.Until(read.Add(listening+2*time.Second)), 20*time.Millisecond, "picked up within the listening TTL")
}

// Closing twice is harmless, whether the listener ever started or not.
func TestTenantsCloseTwice(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	b.create(t, "acme")
	for _, listen := range []bool{false, true} {
		ts, err := postgres.OpenTenants(t.Context(), b.cfg, postgres.TenantsOptions{AppName: "test"})
		require.NoError(t, err)
		if listen {
			_, err = ts.Resolve(t.Context(), "acme")
			require.NoError(t, err)
			postgres.WaitListening(t, ts)
		}
		ts.Close()
		ts.Close()
		require.Zero(t, postgres.ListeningPID(ts))
	}
}

// A tenant in use is read again in the background in the last quarter of
// its TTL, so it does not expire in front of a request; that read also
// picks up a change nobody heard of, within the TTL as before.
func TestATenantInUseIsRefreshedBeforeItExpires(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	// The last quarter of the TTL, 2 s, leaves a busy machine room.
	const ttl = 8 * time.Second
	ts := openTenants(t, b.cfg, postgres.TenantsOptions{ResolveTTL: ttl, ListeningTTL: ttl})
	b.create(t, "acme")
	_, err := ts.Resolve(t.Context(), "acme")
	require.NoError(t, err)
	postgres.WaitListening(t, ts) // the listener clears the cache as it starts
	_, err = ts.Resolve(t.Context(), "acme")
	require.NoError(t, err)
	expires := time.Now().Add(ttl) // the entry expires before this

	b.changeUnheard(t, `UPDATE tenants SET name = 'Acme Renamed' WHERE slug = 'acme'`)
	got, err := ts.Resolve(t.Context(), "acme")
	require.NoError(t, err)
	require.NotEqual(t, "Acme Renamed", got.Name, "not due yet: from the cache")

	time.Sleep(time.Until(expires.Add(-ttl / 8)))
	got, err = ts.Resolve(t.Context(), "acme")
	require.NoError(t, err)
	require.NotEqual(t, "Acme Renamed", got.Name, "due: still answered from the cache")
	require.Eventually(t, func() bool { return postgres.CachedName(ts, "acme") == "Acme Renamed" },
		time.Until(expires), 10*time.Millisecond, "read again in the background before the entry expired")
	time.Sleep(time.Until(expires.Add(100 * time.Millisecond)))
	require.True(t, postgres.Cached(ts, "acme"), "the entry was renewed, not left to expire")
}

// Two registries on one database stand for two processes, each with its
// own cache and a TTL far longer than the test: a tenant changed through
// one stops resolving (or resolves anew) in the other within moments, by
// the notification the change sends, however it was made.
func TestTenantChangesReachEveryProcess(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	acme := b.create(t, "acme")
	serving := openTenants(t, b.cfg, postgres.TenantsOptions{ResolveTTL: time.Hour})
	operator := openTenants(t, b.cfg, postgres.TenantsOptions{ResolveTTL: time.Hour})

	resolves := func(ts *postgres.Tenants) bool {
		_, err := ts.Resolve(t.Context(), "acme")
		if err != nil {
			require.Equal(t, domain.ENOTFOUND, domain.ErrorCode(err), "%v", err)
		}
		return err == nil
	}
	require.True(t, resolves(serving))
	postgres.WaitListening(t, serving)
	require.True(t, resolves(serving))
	require.True(t, postgres.Cached(serving, "acme"))
	require.True(t, resolves(operator))

	suspended, err := operator.Suspend(t.Context(), "acme")
	require.NoError(t, err)
	require.Equal(t, acme.ID, suspended.ID)
	require.False(t, resolves(operator), "the process that suspends sees it at once")
	require.Eventually(t, func() bool { return !resolves(serving) }, 5*time.Second, 10*time.Millisecond,
		"the other process hears of the suspension long before its TTL")

	_, err = operator.Resume(t.Context(), "acme")
	require.NoError(t, err)
	// Resolving may race the resumption's own notification, which then
	// drops the entry again: resolve until it stays cached.
	require.Eventually(t, func() bool { return resolves(serving) && postgres.Cached(serving, "acme") }, 5*time.Second, 10*time.Millisecond)

	// A change made outside the app (psql) notifies too.
	_, err = postgres.ControlPool(operator).Exec(t.Context(), `UPDATE tenants SET name = 'Acme, renamed' WHERE slug = 'acme'`)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		got, err := serving.Resolve(t.Context(), "acme")
		return err == nil && got.Name == "Acme, renamed"
	}, 5*time.Second, 10*time.Millisecond)
}

// The listening connection dies (the server restarted, a proxy cut it):
// the listener connects again, and changes reach the process as before.
func TestTenantChangeListenerReconnects(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	b.create(t, "acme")
	serving := openTenants(t, b.cfg, postgres.TenantsOptions{ResolveTTL: time.Hour})

	_, err := serving.Resolve(t.Context(), "acme")
	require.NoError(t, err)
	first := postgres.WaitListening(t, serving)
	var terminated bool
	err = postgres.ControlPool(b.tenants).QueryRow(t.Context(), `SELECT pg_terminate_backend($1)`, int64(first)).Scan(&terminated)
	require.NoError(t, err)
	require.True(t, terminated)
	require.Eventually(t, func() bool {
		pid := postgres.ListeningPID(serving)
		return pid != 0 && pid != first
	}, 10*time.Second, 10*time.Millisecond, "listening again, on a new connection")

	_, err = serving.Resolve(t.Context(), "acme")
	require.NoError(t, err)
	require.True(t, postgres.Cached(serving, "acme"))
	_, err = b.tenants.Suspend(t.Context(), "acme")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, err := serving.Resolve(t.Context(), "acme")
		return domain.ErrorCode(err) == domain.ENOTFOUND
	}, 5*time.Second, 10*time.Millisecond)
}

// A quiet listener checks its connection every heartbeat; the checks
// neither drop the connection nor deafen it.
func TestTenantChangeListenerHeartbeat(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	b.create(t, "acme")
	serving := openTenants(t, b.cfg, postgres.TenantsOptions{ResolveTTL: time.Hour})
	postgres.SetWatchHeartbeat(serving, 20*time.Millisecond)

	_, err := serving.Resolve(t.Context(), "acme")
	require.NoError(t, err)
	pid := postgres.WaitListening(t, serving)
	require.Eventually(t, func() bool { return postgres.WatchProbes(serving) >= 3 }, 10*time.Second, 10*time.Millisecond,
		"the listener checks its idle connection on every heartbeat")
	require.Equal(t, pid, postgres.ListeningPID(serving), "still listening on the same connection")

	_, err = serving.Resolve(t.Context(), "acme")
	require.NoError(t, err)
	require.True(t, postgres.Cached(serving, "acme"))
	_, err = b.tenants.Suspend(t.Context(), "acme")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, err := serving.Resolve(t.Context(), "acme")
		return domain.ErrorCode(err) == domain.ENOTFOUND
	}, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, pid, postgres.ListeningPID(serving))
}

// A suspended tenant is served to no one and answers exactly as a slug
// never taken; its data and its slug are kept, and resuming brings it back.
func TestSuspendAndResume(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	acme := b.create(t, "acme")
	b.create(t, "globex")
	createProjects(t, b.tenants, acme, "acme", 2)

	_, err := b.tenants.Suspend(t.Context(), "acme")
	require.NoError(t, err)
	_, err = b.tenants.Suspend(t.Context(), "acme")
	require.NoError(t, err, "suspending twice changes nothing")

	_, suspendedErr := b.tenants.Resolve(t.Context(), "acme")
	require.Equal(t, domain.ENOTFOUND, domain.ErrorCode(suspendedErr))
	_, unknownErr := b.tenants.Resolve(t.Context(), "initech")
	require.Equal(t, strings.ReplaceAll(domain.ErrorMessage(unknownErr), "initech", "acme"), domain.ErrorMessage(suspendedErr),
		"no different answer to tell a suspended tenant from none")
	// Operators still see it, marked.
	list, err := b.tenants.List(t.Context(), "", 10)
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.Equal(t, "acme", list[0].Slug)
	require.True(t, list[0].Suspended)
	require.Equal(t, "globex", list[1].Slug)
	require.False(t, list[1].Suspended)
	held, err := b.tenants.Get(t.Context(), "acme")
	require.NoError(t, err)
	require.Equal(t, acme.ID, held.ID)
	require.True(t, held.Suspended)
	_, err = b.tenants.Create(t.Context(), "acme", "Acme again")
	require.Equal(t, domain.ECONFLICT, domain.ErrorCode(err), "a suspended tenant keeps its slug")

	for _, change := range []func(context.Context, string) (domain.Tenant, error){b.tenants.Suspend, b.tenants.Resume} {
		_, err = change(t.Context(), "initech")
		require.Equal(t, domain.ENOTFOUND, domain.ErrorCode(err))
		_, err = change(t.Context(), `acme'; --`)
		require.Equal(t, domain.ENOTFOUND, domain.ErrorCode(err))
	}

	resumed, err := b.tenants.Resume(t.Context(), "acme")
	require.NoError(t, err)
	require.Equal(t, acme.ID, resumed.ID)
	got, err := b.tenants.Resolve(t.Context(), "acme")
	require.NoError(t, err)
	require.Equal(t, acme.ID, got.ID)
	require.Equal(t, []string{"acme-1", "acme-2"}, names(listAll(t, b.tenants, got)), "its data was kept")
}

// A tenant still being created cannot be suspended (nor resumed into
// service before its storage is ready).
func TestProvisioningTenantCannotBeResumed(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	_, err := db.New(postgres.ControlPool(b.tenants)).InsertTenant(t.Context(), db.InsertTenantParams{Slug: "acme", Name: "Half made"})
	require.NoError(t, err)

	_, err = b.tenants.Resume(t.Context(), "acme")
	require.Equal(t, domain.ENOTFOUND, domain.ErrorCode(err))
	_, err = b.tenants.Suspend(t.Context(), "acme")
	require.Equal(t, domain.ENOTFOUND, domain.ErrorCode(err))
	_, err = b.tenants.Resolve(t.Context(), "acme")
	require.Equal(t, domain.ENOTFOUND, domain.ErrorCode(err))
	_, err = b.tenants.Get(t.Context(), "acme")
	require.Equal(t, domain.ENOTFOUND, domain.ErrorCode(err), "operators do not see half-made tenants either")
	list, err := b.tenants.List(t.Context(), "", 10)
	require.NoError(t, err)
	require.Empty(t, list)
}

package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/acme/shop/internal/config"
	"github.com/acme/shop/internal/domain"
	"github.com/acme/shop/internal/postgres"
	"github.com/acme/shop/internal/postgres/db"
	"github.com/acme/shop/internal/postgres/tenantdb"
	"github.com/acme/shop/internal/testsvc"
)

// These tests hold every tenancy mode to the same contract: they use only
// what the code above the data layer uses. Each mode's own file
// (tenant_row_test.go) attacks its mechanism directly.

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

// createProjects creates projects named prefix-1 ... prefix-n in tn, one
// transaction each (so their creation times, which order lists, differ).
func createProjects(t *testing.T, ts *postgres.Tenants, tn domain.Tenant, prefix string, n int) []tenantdb.Project {
	t.Helper()
	out := make([]tenantdb.Project, 0, n)
	for i := range n {
		err := ts.InTenant(t.Context(), tn, func(ctx context.Context, q *tenantdb.Queries) error {
			p, err := q.CreateProject(ctx, fmt.Sprintf("%s-%d", prefix, i+1))
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
	after := tenantdb.ListProjectsParams{MaxItems: 2}
	require.NoError(t, after.AfterCreatedAt.Scan("-infinity"))
	require.NoError(t, after.AfterID.Scan("00000000-0000-0000-0000-000000000000"))
	for {
		var page []tenantdb.Project
		err := ts.InTenant(t.Context(), tn, func(ctx context.Context, q *tenantdb.Queries) error {
			var err error
			page, err = q.ListProjects(ctx, after)
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
		err := b.tenants.InTenant(t.Context(), acme, func(ctx context.Context, q *tenantdb.Queries) error {
			_, err := q.GetProject(ctx, p.ID)
			return err
		})
		require.ErrorIs(t, err, pgx.ErrNoRows, "acme must not see globex's project %s", p.ID.String())
	}
	err := b.tenants.InTenant(t.Context(), globex, func(ctx context.Context, q *tenantdb.Queries) error {
		got, err := q.GetProject(ctx, acmeProjects[0].ID)
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
	err := b.tenants.InTenant(t.Context(), acme, func(ctx context.Context, q *tenantdb.Queries) error {
		if _, err := q.CreateProject(ctx, "doomed"); err != nil {
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
		err := b.tenants.InTenant(t.Context(), forged, func(context.Context, *tenantdb.Queries) error {
			called = true
			return nil
		})
		require.Equal(t, domain.EINTERNAL, domain.ErrorCode(err), "%+v", forged)
		require.False(t, called)
	}
}

// A resolved tenant is cached for the TTL; a change made by this process
// (here: creating the tenant) is seen at once, one made elsewhere (here:
// the row deleted behind the cache's back) within the TTL.
func TestResolveCache(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	ts := openTenants(t, b.cfg, postgres.TenantsOptions{ResolveTTL: 200 * time.Millisecond})

	_, err := ts.Resolve(t.Context(), "acme")
	require.Equal(t, domain.ENOTFOUND, domain.ErrorCode(err))
	acme, err := ts.Create(t.Context(), "acme", "Acme")
	require.NoError(t, err)
	got, err := ts.Resolve(t.Context(), "acme")
	require.NoError(t, err, "unknown slugs are not cached: a new tenant resolves at once")
	require.Equal(t, acme.ID, got.ID)

	_, err = postgres.ControlPool(ts).Exec(t.Context(), `UPDATE tenants SET state = 'provisioning' WHERE slug = 'acme'`)
	require.NoError(t, err)
	_, err = ts.Resolve(t.Context(), "acme")
	require.NoError(t, err, "still cached")
	require.Eventually(t, func() bool {
		_, err := ts.Resolve(t.Context(), "acme")
		return domain.ErrorCode(err) == domain.ENOTFOUND
	}, 5*time.Second, 50*time.Millisecond, "the cache entry expires")
}

package postgres_test

import (
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pressly/goose/v3"
	"github.com/stretchr/testify/require"

	"example.com/acme/internal/postgres"
	"example.com/acme/internal/postgres/db"
	"example.com/acme/internal/testsvc"
)

// testBundle is what each test gets: a pool on its own fresh database.
type testBundle struct {
	pool *pgxpool.Pool
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	pool, err := postgres.Open(t.Context(), testsvc.NewDatabase(t), "test")
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return &testBundle{pool: pool}
}

// migrate applies the control-plane migrations and returns what was applied.
func (b *testBundle) migrate(t *testing.T) []*goose.MigrationResult {
	t.Helper()
	m, err := postgres.NewMigrator(b.pool)
	require.NoError(t, err)
	defer func() { require.NoError(t, m.Close()) }()
	results, err := m.Up(t.Context())
	require.NoError(t, err)
	return results
}

func TestMigrateUpOnFreshDatabase(t *testing.T) {
	t.Parallel()
	b := setup(t)

	results := b.migrate(t)
	require.NotEmpty(t, results)
	for _, r := range results {
		require.NoError(t, r.Error, r.Source.Path)
	}

	var tables []string
	rows, err := b.pool.Query(t.Context(),
		`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`)
	require.NoError(t, err)
	tables, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Contains(t, tables, "tenants")
	require.Contains(t, tables, "goose_db_version")

	// A second run has nothing left to do.
	require.Empty(t, b.migrate(t))

	m, err := postgres.NewMigrator(b.pool)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, m.Close()) })
	status, err := m.Status(t.Context())
	require.NoError(t, err)
	for _, s := range status {
		require.Equal(t, goose.StateApplied, s.State, s.Source.Path)
	}
	version, err := m.Version(t.Context())
	require.NoError(t, err)
	require.Equal(t, status[len(status)-1].Source.Version, version)
}

// A kit upgrade can bring a control-plane migration numbered below ones the
// database has applied (00014_tenant_deletion after 00020_audit): it is
// applied, not refused as missing. 00014 can run twice, so forgetting it
// stands for a database migrated by a kit that did not have it yet.
func TestMigrateAppliesAnOlderNewMigration(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.migrate(t)

	_, err := b.pool.Exec(t.Context(), `DELETE FROM goose_db_version WHERE version_id = 14`)
	require.NoError(t, err)
	results := b.migrate(t)
	require.Len(t, results, 1)
	require.Equal(t, int64(14), results[0].Source.Version)
	require.NoError(t, results[0].Error)
}

func TestMigrateLeavesPoolUsable(t *testing.T) {
	t.Parallel()
	b := setup(t)

	b.migrate(t)
	require.NoError(t, b.pool.Ping(t.Context()), "closing the migrator must not close the pool")
}

func TestTenantQueries(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.migrate(t)
	q := db.New(b.pool)
	ctx := t.Context()

	for _, slug := range []string{"initech", "globex", "hooli", "pending"} {
		tn, err := q.InsertTenant(ctx, db.InsertTenantParams{Slug: slug, Name: "Tenant " + slug})
		require.NoError(t, err)
		require.Equal(t, "provisioning", tn.State, "a new tenant is not active yet")
		if slug != "pending" {
			require.NoError(t, q.ActivateTenant(ctx, tn.ID))
		}
	}

	got, err := q.GetActiveTenantBySlug(ctx, "globex")
	require.NoError(t, err)
	require.Equal(t, "Tenant globex", got.Name)
	require.True(t, got.ID.Valid)
	require.True(t, got.CreatedAt.Valid)

	_, err = q.GetActiveTenantBySlug(ctx, "missing")
	require.ErrorIs(t, err, pgx.ErrNoRows)
	_, err = q.GetActiveTenantBySlug(ctx, "pending")
	require.ErrorIs(t, err, pgx.ErrNoRows, "a tenant still provisioning never resolves")

	page, err := q.ListActiveTenants(ctx, db.ListActiveTenantsParams{AfterSlug: "", MaxItems: 2})
	require.NoError(t, err)
	require.Equal(t, []string{"globex", "hooli"}, slugs(page))
	page, err = q.ListActiveTenants(ctx, db.ListActiveTenantsParams{AfterSlug: "hooli", MaxItems: 2})
	require.NoError(t, err)
	require.Equal(t, []string{"initech"}, slugs(page))

	_, err = q.InsertTenant(ctx, db.InsertTenantParams{Slug: "globex", Name: "Again"})
	require.Error(t, err, "slugs are unique")
	for _, bad := range []string{"Bad Slug", "ab", "-acme", "acme-", "ac--me", "t_acme", `a"b`} {
		_, err = q.InsertTenant(ctx, db.InsertTenantParams{Slug: bad, Name: "Bad"})
		require.Error(t, err, "the schema refuses the malformed slug %q", bad)
	}
}

func slugs(tenants []db.Tenant) []string {
	out := make([]string, 0, len(tenants))
	for _, tn := range tenants {
		out = append(out, tn.Slug)
	}
	return out
}

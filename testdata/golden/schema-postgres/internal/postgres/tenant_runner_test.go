package postgres_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/require"

	"example.com/acme/internal/domain"
	"example.com/acme/internal/postgres"
	"example.com/acme/internal/testsvc"
)

// addArchived is a new tenant migration the tests roll out to a fleet.
const addArchived = `-- +goose Up
ALTER TABLE projects ADD COLUMN archived boolean NOT NULL DEFAULT false;
%s
-- +goose Down
ALTER TABLE projects DROP COLUMN archived;
`

// nextVersion opens the registry of the next release: the shipped tenant
// migrations plus addArchived (with extra SQL after it).
func nextVersion(t *testing.T, b *tenantsBundle, extra string) *postgres.Tenants {
	t.Helper()
	return openTenants(t, b.cfg, postgres.TenantsOptions{
		Migrations: withMigration(t, "90000_archived.sql", fmt.Sprintf(addArchived, extra)),
	})
}

// createTenants creates n tenants tenant-000, tenant-001, ... four at a time.
func createTenants(tb testing.TB, b *tenantsBundle, n int) []domain.Tenant {
	tb.Helper()
	out := make([]domain.Tenant, n)
	errs := make([]error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := range next {
				out[i], errs[i] = b.tenants.Create(tb.Context(), fmt.Sprintf("tenant-%03d", i), "Tenant")
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		require.NoError(tb, err)
	}
	return out
}

func createNamedProject(t *testing.T, ts *postgres.Tenants, tn domain.Tenant, name string) {
	t.Helper()
	err := ts.InTenant(t.Context(), tn, func(ctx context.Context, u *postgres.Unit) error {
		_, err := u.Queries.CreateProject(ctx, pgtype.Text{String: name, Valid: true})
		return err
	})
	require.NoError(t, err)
}

func behindSlugs(report *postgres.MigrationReport) []string {
	behind := report.Behind()
	out := make([]string, len(behind))
	for i := range behind {
		out[i] = behind[i].Tenant.Slug
	}
	return out
}

func TestMigrate200TenantsInParallel(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	tenants := createTenants(t, b, 200)
	next := nextVersion(t, b, "")

	check, err := next.CheckTenants(t.Context(), postgres.MigrateOptions{})
	require.NoError(t, err)
	require.Len(t, check.Behind(), 200)

	progress := &testsvc.LogBuffer{}
	report, err := next.MigrateTenants(t.Context(), postgres.MigrateOptions{Concurrency: 8, Progress: progress})
	require.NoError(t, err)
	require.Len(t, report.Tenants, 200)
	require.Empty(t, report.Failed())
	require.Empty(t, report.Behind())
	require.Equal(t, 200, report.Applied())
	require.Equal(t, int64(90000), report.Latest)
	require.Contains(t, progress.String(), "tenant migrate: 200/200 tenants, 0 failed")

	for _, tn := range []domain.Tenant{tenants[0], tenants[99], tenants[199]} {
		rec, recErr := next.RecordedMigration(t.Context(), tn)
		require.NoError(t, recErr)
		require.Equal(t, int64(90000), rec.Version)
		require.Equal(t, "ok", rec.State)
	}

	// Nothing left to do: every tenant is skipped after a version check.
	report, err = next.MigrateTenants(t.Context(), postgres.MigrateOptions{Concurrency: 8})
	require.NoError(t, err)
	require.Zero(t, report.Applied())
	check, err = next.CheckTenants(t.Context(), postgres.MigrateOptions{})
	require.NoError(t, err)
	require.Empty(t, check.Behind())
}

// A run killed in the middle of a tenant's migration resumes: the tenants
// finished before stay finished, the interrupted migration was rolled back
// whole, and the next run completes the rest.
func TestMigrateResumesAfterACrash(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	tenants := createTenants(t, b, 10)
	token := strings.ToLower(rand.Text())
	createNamedProject(t, b.tenants, tenants[4], "slow")
	next := nextVersion(t, b, fmt.Sprintf("SELECT pg_sleep(60) /* %s */ FROM projects WHERE name = 'slow';", token))

	ctx, crash := context.WithCancel(t.Context())
	defer crash()
	type outcome struct {
		report *postgres.MigrationReport
		err    error
	}
	done := make(chan outcome, 1)
	go func() {
		report, err := next.MigrateTenants(ctx, postgres.MigrateOptions{Concurrency: 1})
		done <- outcome{report, err}
	}()
	// The owner sees every session's statement in pg_stat_activity.
	admin, err := pgx.Connect(t.Context(), b.cfg.MigrateURL)
	require.NoError(t, err)
	defer func() { _ = admin.Close(context.WithoutCancel(t.Context())) }()
	require.Eventually(t, func() bool {
		var sleeping bool
		qErr := admin.QueryRow(t.Context(),
			`SELECT EXISTS (SELECT 1 FROM pg_stat_activity
			 WHERE wait_event = 'PgSleep' AND query LIKE '%' || $1 || '%' AND pid <> pg_backend_pid())`,
			token).Scan(&sleeping)
		return qErr == nil && sleeping
	}, 30*time.Second, 20*time.Millisecond, "tenant-004's migration is sleeping (the others' run the same SQL without sleeping)")
	crash()
	got := <-done
	require.ErrorIs(t, got.err, context.Canceled)
	require.Len(t, got.report.Tenants, 10)
	require.Len(t, got.report.Failed(), 6, "tenant-004 interrupted, tenant-005.. not started")

	check, err := next.CheckTenants(t.Context(), postgres.MigrateOptions{})
	require.NoError(t, err)
	require.Equal(t, []string{"tenant-004", "tenant-005", "tenant-006", "tenant-007", "tenant-008", "tenant-009"}, behindSlugs(check))

	err = next.InTenant(t.Context(), tenants[4], func(ctx context.Context, u *postgres.Unit) error {
		_, createErr := u.Queries.CreateProject(ctx, pgtype.Text{String: "not-slow", Valid: true})
		return createErr
	})
	require.NoError(t, err, "tenant-004 still works at its old version")
	removeSlow(t, next, tenants[4])

	report, err := next.MigrateTenants(t.Context(), postgres.MigrateOptions{Concurrency: 3})
	require.NoError(t, err)
	require.Empty(t, report.Failed())
	require.Equal(t, 6, report.Applied(), "only what the crash left undone")
	check, err = next.CheckTenants(t.Context(), postgres.MigrateOptions{})
	require.NoError(t, err)
	require.Empty(t, check.Behind())
}

// removeSlow renames tenant's project "slow", so the migration stops sleeping.
func removeSlow(t *testing.T, ts *postgres.Tenants, tn domain.Tenant) {
	t.Helper()
	err := ts.InTenantTx(t.Context(), tn, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE projects SET name = 'was-slow' WHERE name = 'slow'`)
		return err
	})
	require.NoError(t, err)
}

// A canary (--slug), chunks (--limit) and a tenant whose migration fails:
// the failure stops nobody else, is recorded, and a later chunk picks it up.
func TestMigrateCanaryChunksAndFailures(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	tenants := createTenants(t, b, 6)
	// The new migration divides by zero in a tenant with a project "poison".
	createNamedProject(t, b.tenants, tenants[2], "poison")
	next := nextVersion(t, b, "SELECT 1 / (SELECT count(*) - 1 FROM projects WHERE name = 'poison');")

	report, err := next.MigrateTenants(t.Context(), postgres.MigrateOptions{Slug: "tenant-000"})
	require.NoError(t, err)
	require.Len(t, report.Tenants, 1)
	require.Equal(t, 1, report.Applied())
	check, err := next.CheckTenants(t.Context(), postgres.MigrateOptions{})
	require.NoError(t, err)
	require.Equal(t, []string{"tenant-001", "tenant-002", "tenant-003", "tenant-004", "tenant-005"}, behindSlugs(check))

	report, err = next.MigrateTenants(t.Context(), postgres.MigrateOptions{Limit: 2})
	require.NoError(t, err)
	require.Len(t, report.Tenants, 2, "the next two behind, by slug")
	require.Len(t, report.Failed(), 1)
	require.Equal(t, "tenant-002", report.Failed()[0].Tenant.Slug)
	require.ErrorContains(t, report.Failed()[0].Err, "division by zero")
	rec, err := next.RecordedMigration(t.Context(), tenants[2])
	require.NoError(t, err)
	require.Equal(t, "failed", rec.State)
	require.Contains(t, rec.Error, "division by zero")

	report, err = next.MigrateTenants(t.Context(), postgres.MigrateOptions{})
	require.NoError(t, err)
	require.Len(t, report.Tenants, 6)
	require.Len(t, report.Failed(), 1, "the failing tenant stops nobody else")
	require.Equal(t, 3, report.Applied())

	removePoison(t, next, tenants[2])
	report, err = next.MigrateTenants(t.Context(), postgres.MigrateOptions{Limit: 10})
	require.NoError(t, err)
	require.Len(t, report.Tenants, 1, "only the tenant still behind")
	require.Empty(t, report.Failed())
	check, err = next.CheckTenants(t.Context(), postgres.MigrateOptions{})
	require.NoError(t, err)
	require.Empty(t, check.Behind())
}

func removePoison(t *testing.T, ts *postgres.Tenants, tn domain.Tenant) {
	t.Helper()
	err := ts.InTenantTx(t.Context(), tn, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM projects WHERE name = 'poison'`)
		return err
	})
	require.NoError(t, err)
}

func TestMigrateUnknownSlug(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)

	_, err := b.tenants.MigrateTenants(t.Context(), postgres.MigrateOptions{Slug: "nobody"})
	require.Equal(t, domain.ENOTFOUND, domain.ErrorCode(err))
}

// The runner works on at most Concurrency tenants at once. Each tenant's
// migration records, in the tenant's own storage, when it started and
// finished by the server's clock (one clock for every tenant), and lasts a
// moment; the most windows open at one instant is the concurrency reached.
func TestMigrateNeverExceedsItsConcurrency(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	tenants := createTenants(t, b, 9)
	next := openTenants(t, b.cfg, postgres.TenantsOptions{Migrations: withMigration(t, "90000_window.sql", `-- +goose Up
CREATE TABLE migration_window (started timestamptz NOT NULL, finished timestamptz);
INSERT INTO migration_window (started) VALUES (clock_timestamp());
SELECT pg_sleep(0.3);
UPDATE migration_window SET finished = clock_timestamp();
-- +goose Down
DROP TABLE migration_window;
`)})

	const concurrency = 3
	report, err := next.MigrateTenants(t.Context(), postgres.MigrateOptions{Concurrency: concurrency})
	require.NoError(t, err)
	require.Empty(t, report.Failed())
	require.Equal(t, len(tenants), report.Applied())

	type event struct {
		at    time.Time
		delta int
	}
	var events []event
	for _, tn := range tenants {
		err := next.InTenantTx(t.Context(), tn, func(ctx context.Context, tx pgx.Tx) error {
			var started, finished time.Time
			if err := tx.QueryRow(ctx, `SELECT started, finished FROM migration_window`).Scan(&started, &finished); err != nil {
				return err
			}
			events = append(events, event{started, +1}, event{finished, -1})
			return nil
		})
		require.NoError(t, err)
	}
	// Ends sort before starts at the same instant: a worker may start the
	// next tenant the moment it finishes one.
	slices.SortFunc(events, func(a, b event) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return a.delta - b.delta
	})
	open, peak := 0, 0
	for _, e := range events {
		open += e.delta
		peak = max(peak, open)
	}
	require.LessOrEqual(t, peak, concurrency, "never more tenants at once than asked")
	require.GreaterOrEqual(t, peak, 2, "the tenants did run in parallel (else the bound above proves nothing)")
}

// Suspended tenants are migrated with the others: their storage is kept,
// and must be current when they are resumed.
func TestMigrateIncludesSuspendedTenants(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	createTenants(t, b, 3)
	_, err := b.tenants.Suspend(t.Context(), "tenant-001")
	require.NoError(t, err)
	next := nextVersion(t, b, "")

	check, err := next.CheckTenants(t.Context(), postgres.MigrateOptions{})
	require.NoError(t, err)
	require.Equal(t, []string{"tenant-000", "tenant-001", "tenant-002"}, behindSlugs(check))
	report, err := next.MigrateTenants(t.Context(), postgres.MigrateOptions{Limit: 2})
	require.NoError(t, err)
	require.Equal(t, []string{"tenant-000", "tenant-001"}, slugsOf(report), "--limit picks suspended tenants behind too")
	require.Equal(t, 2, report.Applied())
	_, err = next.Suspend(t.Context(), "tenant-002")
	require.NoError(t, err)
	report, err = next.MigrateTenants(t.Context(), postgres.MigrateOptions{Slug: "tenant-002"})
	require.NoError(t, err)
	require.Equal(t, 1, report.Applied(), "a canary may be a suspended tenant")

	_, err = next.Resume(t.Context(), "tenant-001")
	require.NoError(t, err)
	check, err = next.CheckTenants(t.Context(), postgres.MigrateOptions{})
	require.NoError(t, err)
	require.Empty(t, check.Behind())
}

func slugsOf(report *postgres.MigrationReport) []string {
	out := make([]string, len(report.Tenants))
	for i := range report.Tenants {
		out[i] = report.Tenants[i].Tenant.Slug
	}
	return out
}

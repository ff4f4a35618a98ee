package testsvc

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/acme/shop-api/internal/config"
	"github.com/acme/shop-api/internal/postgres"
)

// MigratedTenants prepares the environment cfg describes as `migrate` does
// (the control-plane migrations as the owner, then asOwner, more schema the
// owner makes such as the job queue's, then the tenant tables) and opens the
// tenant registry on it with opts, closed when the test ends.
func MigratedTenants(tb testing.TB, cfg config.Database, opts postgres.TenantsOptions, asOwner ...func(context.Context, *pgxpool.Pool) error) *postgres.Tenants {
	tb.Helper()
	ctx := tb.Context()
	owner, err := postgres.Open(ctx, cfg.MigrateURL, "test-migrate")
	if err != nil {
		tb.Fatalf("connect as the owner: %v", err)
	}
	defer owner.Close()
	m, err := postgres.NewMigrator(owner)
	if err != nil {
		tb.Fatalf("migrator: %v", err)
	}
	_, err = m.Up(ctx)
	if closeErr := m.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		tb.Fatalf("migrate the control plane: %v", err)
	}
	for _, migrate := range asOwner {
		if migrateErr := migrate(ctx, owner); migrateErr != nil {
			tb.Fatalf("migrate as the owner: %v", migrateErr)
		}
	}

	if opts.AppName == "" {
		opts.AppName = "test"
	}
	tenants, err := postgres.OpenTenants(ctx, cfg, opts)
	if err != nil {
		tb.Fatalf("open tenants: %v", err)
	}
	tb.Cleanup(tenants.Close)
	report, err := tenants.MigrateTenants(ctx, postgres.MigrateOptions{})
	if err != nil {
		tb.Fatalf("migrate the tenant tables: %v", err)
	}
	if failed := report.Failed(); len(failed) > 0 {
		tb.Fatalf("migrate the tenant tables: %d failed: %v", len(failed), failed[0].Err)
	}
	return tenants
}

package testsvc

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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

// WaitListening resolves the active tenant slug with tenants, opened on
// cfg, which has it start listening for tenant changes, and waits until
// it listens (its "-listen" connection has run LISTEN) and has dropped its
// cache, as it does then: from then on, only a change no one hears of
// leaves what it resolves stale.
func WaitListening(tb testing.TB, cfg config.Database, tenants *postgres.Tenants, slug string) {
	tb.Helper()
	if _, err := tenants.Resolve(tb.Context(), slug); err != nil {
		tb.Fatalf("resolve %s: %v", slug, err)
	}
	conn, err := pgx.Connect(tb.Context(), cfg.MigrateURL)
	if err != nil {
		tb.Fatalf("connect as the owner: %v", err)
	}
	defer func() { _ = conn.Close(context.WithoutCancel(tb.Context())) }()
	for deadline := time.Now().Add(10 * time.Second); ; {
		var listening bool
		err := conn.QueryRow(tb.Context(), `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
			WHERE datname = current_database() AND application_name LIKE '%-listen' AND query LIKE 'LISTEN %')`).Scan(&listening)
		switch {
		case err != nil:
			tb.Fatalf("read pg_stat_activity: %v", err)
		case listening:
			time.Sleep(100 * time.Millisecond) // the cache is dropped just after
			return
		case time.Now().After(deadline):
			tb.Fatal("the tenant registry did not start listening in 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// SuspendUnheard suspends slug's tenant the way no process hears of: with
// the triggers that announce tenant changes off for the one transaction,
// as a notification lost on its way would leave every resolve cache.
func SuspendUnheard(tb testing.TB, cfg config.Database, slug string) {
	tb.Helper()
	conn, err := pgx.Connect(tb.Context(), cfg.MigrateURL)
	if err != nil {
		tb.Fatalf("connect as the owner: %v", err)
	}
	defer func() { _ = conn.Close(context.WithoutCancel(tb.Context())) }()
	var suspended int64
	err = pgx.BeginFunc(tb.Context(), conn, func(tx pgx.Tx) error {
		batch := &pgx.Batch{}
		batch.Queue(`ALTER TABLE public.tenants DISABLE TRIGGER USER`)
		batch.Queue(`UPDATE public.tenants SET state = 'suspended' WHERE slug = $1`, slug).Exec(func(tag pgconn.CommandTag) error {
			suspended = tag.RowsAffected()
			return nil
		})
		batch.Queue(`ALTER TABLE public.tenants ENABLE TRIGGER USER`)
		return tx.SendBatch(tb.Context(), batch).Close()
	})
	if err != nil || suspended != 1 {
		tb.Fatalf("suspend %s unheard: %d suspended, %v", slug, suspended, err)
	}
}

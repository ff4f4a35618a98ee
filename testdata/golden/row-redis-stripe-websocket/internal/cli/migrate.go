package cli

import (
	"context"
	"fmt"
	"io"
	"path"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/acme/shop-api/internal/config"
	"github.com/acme/shop-api/internal/jobs"
	"github.com/acme/shop-api/internal/postgres"
)

func runMigrate(ctx context.Context, e env, args []string) error {
	rest, err := parseFlags(e, "migrate", args, 1)
	if err != nil {
		return err
	}
	action := "up"
	if len(rest) == 1 {
		action = rest[0]
	}
	if action != "up" && action != "status" {
		return &UsageError{msg: fmt.Sprintf("migrate: unknown action %q (want up or status)", action)}
	}
	db, err := config.LoadDatabase(e.getenv)
	if err != nil {
		return err
	}
	if action == "status" {
		return migrateStatus(ctx, db, e.stdout)
	}
	return migrateUp(ctx, db, e.stdout, e.stderr)
}

// withMigrator runs fn with a Migrator on its own short-lived pool,
// connected as the role migrations run as.
func withMigrator(ctx context.Context, db config.Database, fn func(*pgxpool.Pool, *postgres.Migrator) error) error {
	if err := db.CheckMigrate(); err != nil {
		return err
	}
	pool, err := postgres.Open(ctx, db.MigrateURL, appName+"-migrate")
	if err != nil {
		return err
	}
	defer pool.Close()
	m, err := postgres.NewMigrator(pool)
	if err != nil {
		return err
	}
	defer func() { _ = m.Close() }()
	return fn(pool, m)
}

// migrateUp applies pending control-plane migrations, printing each one,
// then migrates every tenant (progress on stderr).
func migrateUp(ctx context.Context, db config.Database, stdout, stderr io.Writer) error {
	err := withMigrator(ctx, db, func(pool *pgxpool.Pool, m *postgres.Migrator) error {
		results, err := m.Up(ctx)
		for _, r := range results {
			fmt.Fprintln(stdout, r)
		}
		if err != nil {
			return err
		}
		v, err := m.Version(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "control-plane schema at version %d (%d applied now)\n", v, len(results))
		if err := jobs.MigrateQueue(ctx, pool, stdout); err != nil {
			return err
		}
		return postgres.InstallSeal(ctx, pool, db.SecretKey)
	})
	if err != nil {
		return err
	}
	return withTenants(ctx, db, func(tenants *postgres.Tenants) error {
		return migrateTenants(ctx, tenants, postgres.MigrateOptions{Progress: stderr}, stdout)
	})
}

// migrateStatus prints every control-plane migration and its state.
func migrateStatus(ctx context.Context, db config.Database, w io.Writer) error {
	return withMigrator(ctx, db, func(_ *pgxpool.Pool, m *postgres.Migrator) error {
		status, err := m.Status(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "MIGRATION\tSTATE\tAPPLIED AT")
		for _, s := range status {
			applied := ""
			if !s.AppliedAt.IsZero() {
				applied = s.AppliedAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", path.Base(s.Source.Path), s.State, applied)
		}
		fmt.Fprintf(tw, "\nTenant migrations: %s tenant migrate --check\n", appName)
		return tw.Flush()
	})
}

package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/acme/internal/config"
	"example.com/acme/internal/jobs"
	"example.com/acme/internal/postgres"
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
	cfg, err := config.Load(e.getenv)
	if err != nil {
		return err
	}
	if action == "status" {
		return migrateStatus(ctx, cfg, e.stdout)
	}
	return migrateUp(ctx, cfg, e.stdout)
}

// withMigrator runs fn with a Migrator on its own short-lived pool.
func withMigrator(ctx context.Context, cfg config.Config, fn func(*pgxpool.Pool, *postgres.Migrator) error) error {
	pool, err := postgres.Open(ctx, cfg.DatabaseURL, appName+"-migrate")
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

// migrateUp applies pending control-plane migrations, printing each one.
func migrateUp(ctx context.Context, cfg config.Config, w io.Writer) error {
	return withMigrator(ctx, cfg, func(pool *pgxpool.Pool, m *postgres.Migrator) error {
		results, err := m.Up(ctx)
		for _, r := range results {
			fmt.Fprintln(w, r)
		}
		if err != nil {
			return err
		}
		v, err := m.Version(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "control-plane schema at version %d (%d applied now)\n", v, len(results))
		applied, err := jobs.Migrate(ctx, pool, slog.New(slog.DiscardHandler))
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "job queue (River) schema: %d migrations applied now\n", len(applied))
		return nil
	})
}

// migrateStatus prints every control-plane migration and its state.
func migrateStatus(ctx context.Context, cfg config.Config, w io.Writer) error {
	return withMigrator(ctx, cfg, func(_ *pgxpool.Pool, m *postgres.Migrator) error {
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
		return tw.Flush()
	})
}

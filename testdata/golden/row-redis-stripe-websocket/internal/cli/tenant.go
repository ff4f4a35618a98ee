package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/acme/shop-api/internal/auth"
	"github.com/acme/shop-api/internal/config"
	"github.com/acme/shop-api/internal/domain"
	"github.com/acme/shop-api/internal/postgres"
)

// tenantActions returns the actions of the tenant command.
func tenantActions() map[string]func(ctx context.Context, e env, args []string) error {
	return map[string]func(ctx context.Context, e env, args []string) error{
		"create":  runTenantCreate,
		"list":    runTenantList,
		"migrate": runTenantMigrate,
		"suspend": runTenantSuspend,
		"resume":  runTenantResume,
		"rename":  runTenantRename,
		"delete":  runTenantDelete,
	}
}

func runTenant(ctx context.Context, e env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
		fmt.Fprintf(e.stderr, "Usage: %s tenant create --slug SLUG --name NAME [--owner EMAIL]\n", appName)
		fmt.Fprintf(e.stderr, "       %s tenant list\n", appName)
		fmt.Fprintf(e.stderr, "       %s tenant migrate [--slug SLUG] [--limit N] [--concurrency N] [--check]\n", appName)
		fmt.Fprintf(e.stderr, "       %s tenant suspend --slug SLUG\n", appName)
		fmt.Fprintf(e.stderr, "       %s tenant resume --slug SLUG\n", appName)
		fmt.Fprintf(e.stderr, "       %s tenant rename --slug SLUG --name NAME\n", appName)
		fmt.Fprintf(e.stderr, "       %s tenant delete --slug SLUG --confirm SLUG\n", appName)
		if len(args) == 0 {
			return &UsageError{msg: "tenant: no action given (want create, list, migrate, suspend, resume, rename or delete)"}
		}
		return flag.ErrHelp
	}
	action, ok := tenantActions()[args[0]]
	if !ok {
		return &UsageError{msg: fmt.Sprintf("tenant: unknown action %q (want create, list, migrate, suspend, resume, rename or delete)", args[0])}
	}
	return action(ctx, e, args[1:])
}

// withTenants runs fn with the tenant registry.
func withTenants(ctx context.Context, db config.Database, fn func(*postgres.Tenants) error) error {
	tenants, err := postgres.OpenTenants(ctx, db, postgres.TenantsOptions{AppName: appName + "-cli"})
	if err != nil {
		return err
	}
	defer tenants.Close()
	return fn(tenants)
}

// withControlPlane runs fn with the tenant registry, for a command that
// changes the control plane: the access changes it makes are
// announced to the running servers once committed (see brokerAnnouncer).
func withControlPlane(ctx context.Context, e env, db config.Database, fn func(*postgres.Tenants) error) error {
	return withTenants(ctx, db, func(tenants *postgres.Tenants) error {
		announcer := &brokerAnnouncer{e: e}
		defer announcer.close()
		tenants.UseSeams(postgres.Seams{Access: announcer})
		return fn(tenants)
	})
}

func runTenantCreate(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "tenant create")
	slug := fs.String("slug", "", "the tenant's `slug`: 3-40 lowercase letters, digits and hyphens; names its subdomain (required)")
	name := fs.String("name", "", "the tenant's display `name` (required)")
	owner := fs.String("owner", "", "the `email` of an existing user who becomes the tenant's owner (default: no members; invite them later)")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	if *slug == "" || *name == "" {
		fs.Usage()
		return &UsageError{msg: "tenant create: --slug and --name are required"}
	}
	db, err := config.LoadDatabase(e.getenv)
	if err != nil {
		return err
	}
	return withTenants(ctx, db, func(tenants *postgres.Tenants) error {
		ownerID := ""
		if *owner != "" {
			id, err := ownerByEmail(ctx, tenants, *owner)
			if err != nil {
				return err
			}
			ownerID = id
		}
		t, err := tenants.CreateOwned(ctx, *slug, *name, ownerID)
		if err != nil {
			return cliError(err)
		}
		if ownerID != "" {
			fmt.Fprintf(e.stdout, "created tenant %s (%s), owned by %s\n", t.Slug, t.ID, *owner)
			return nil
		}
		fmt.Fprintf(e.stdout, "created tenant %s (%s)\n", t.Slug, t.ID)
		return nil
	})
}

// ownerByEmail returns the id of the user a tenant create --owner names.
func ownerByEmail(ctx context.Context, tenants *postgres.Tenants, email string) (string, error) {
	hasher, err := auth.NewHasher(auth.DefaultParams)
	if err != nil {
		return "", err
	}
	identity, err := postgres.NewIdentity(tenants, postgres.IdentityOptions{Hasher: hasher})
	if err != nil {
		return "", err
	}
	id, err := identity.UserIDByEmail(ctx, email)
	if domain.ErrorCode(err) == domain.ENOTFOUND {
		return "", fmt.Errorf("tenant create: --owner: %s; create them first with `%s user create`", domain.ErrorMessage(err), appName)
	}
	if err != nil {
		return "", cliError(err)
	}
	return id, nil
}

func runTenantList(ctx context.Context, e env, args []string) error {
	if _, err := parse(newFlagSet(e, "tenant list"), args, 0); err != nil {
		return err
	}
	db, err := config.LoadDatabase(e.getenv)
	if err != nil {
		return err
	}
	return withTenants(ctx, db, func(tenants *postgres.Tenants) error {
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SLUG\tNAME\tID\tCREATED\tSTATE")
		after := ""
		for {
			page, err := tenants.List(ctx, after, 500)
			if err != nil {
				return err
			}
			for _, t := range page {
				state := "active"
				if t.Suspended {
					state = "suspended"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.Slug, t.Name, t.ID, t.CreatedAt.UTC().Format(time.RFC3339), state)
			}
			if len(page) < 500 {
				return tw.Flush()
			}
			after = page[len(page)-1].Slug
		}
	})
}

// runTenantSuspend stops serving a tenant, in every running instance of the
// app, keeping its data; runTenantResume serves it again.
func runTenantSuspend(ctx context.Context, e env, args []string) error {
	return setTenantSuspended(ctx, e, args, "suspend")
}

func runTenantResume(ctx context.Context, e env, args []string) error {
	return setTenantSuspended(ctx, e, args, "resume")
}

func setTenantSuspended(ctx context.Context, e env, args []string, action string) error {
	fs := newFlagSet(e, "tenant "+action)
	slug := fs.String("slug", "", "the `slug` of the tenant to "+action+" (required)")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	if *slug == "" {
		fs.Usage()
		return &UsageError{msg: "tenant " + action + ": --slug is required"}
	}
	db, err := config.LoadDatabase(e.getenv)
	if err != nil {
		return err
	}
	return withControlPlane(ctx, e, db, func(tenants *postgres.Tenants) error {
		change, done := tenants.Suspend, "suspended"
		if action == "resume" {
			change, done = tenants.Resume, "resumed"
		}
		t, err := change(ctx, *slug)
		if err != nil {
			return cliError(err)
		}
		fmt.Fprintf(e.stdout, "%s tenant %s (%s)\n", done, t.Slug, t.ID)
		return nil
	})
}

// runTenantRename changes a tenant's display name.
func runTenantRename(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "tenant rename")
	slug := fs.String("slug", "", "the `slug` of the tenant to rename (required; it stays)")
	name := fs.String("name", "", "the tenant's new display `name` (required)")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	if *slug == "" || *name == "" {
		fs.Usage()
		return &UsageError{msg: "tenant rename: --slug and --name are required"}
	}
	db, err := config.LoadDatabase(e.getenv)
	if err != nil {
		return err
	}
	return withControlPlane(ctx, e, db, func(tenants *postgres.Tenants) error {
		t, err := tenants.Rename(ctx, *slug, *name)
		if err != nil {
			return cliError(err)
		}
		fmt.Fprintf(e.stdout, "renamed tenant %s (%s) to %q\n", t.Slug, t.ID, t.Name)
		return nil
	})
}

// runTenantDelete deletes a tenant and all of its data, in every running
// instance of the app at once (see postgres.Tenants.Delete); --confirm
// must repeat the slug. It also finishes a deletion that stopped half-way.
func runTenantDelete(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "tenant delete")
	slug := fs.String("slug", "", "the `slug` of the tenant to delete, active or suspended (required)")
	confirm := fs.String("confirm", "", "the same `slug` again: the deletion cannot be undone (required)")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	if *slug == "" {
		fs.Usage()
		return &UsageError{msg: "tenant delete: --slug is required"}
	}
	if *confirm != *slug {
		fs.Usage()
		return &UsageError{msg: "tenant delete: --confirm must repeat the slug; the tenant's data cannot be brought back"}
	}
	db, err := config.LoadDatabase(e.getenv)
	if err != nil {
		return err
	}
	return withControlPlane(ctx, e, db, func(tenants *postgres.Tenants) error {
		t, err := tenants.Delete(ctx, *slug)
		if err != nil {
			return cliError(err)
		}
		fmt.Fprintf(e.stdout, "deleted tenant %s (%s) and all of its data\n", t.Slug, t.ID)
		return nil
	})
}

func runTenantMigrate(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "tenant migrate")
	var opts postgres.MigrateOptions
	fs.StringVar(&opts.Slug, "slug", "", "migrate only the tenant with this `slug` (a canary)")
	fs.IntVar(&opts.Limit, "limit", 0, "migrate at most `N` tenants still behind, by slug (chunked runs)")
	fs.IntVar(&opts.Concurrency, "concurrency", postgres.DefaultMigrateConcurrency, "migrate `N` tenants at once")
	check := fs.Bool("check", false, "change nothing; exit 1 if any tenant is behind")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	if opts.Limit < 0 || opts.Concurrency < 1 {
		fs.Usage()
		return &UsageError{msg: "tenant migrate: --limit must be at least 0 and --concurrency at least 1"}
	}
	opts.Progress = e.stderr
	db, err := config.LoadDatabase(e.getenv)
	if err != nil {
		return err
	}
	if migrateErr := db.CheckMigrate(); migrateErr != nil && !*check {
		return migrateErr
	}
	return withTenants(ctx, db, func(tenants *postgres.Tenants) error {
		if *check {
			return checkTenants(ctx, tenants, opts, e.stdout)
		}
		return migrateTenants(ctx, tenants, opts, e.stdout)
	})
}

// migrateTenants runs the tenant migrations, prints every failure and a
// summary, and fails if any tenant did.
func migrateTenants(ctx context.Context, tenants *postgres.Tenants, opts postgres.MigrateOptions, w io.Writer) error {
	report, err := tenants.MigrateTenants(ctx, opts)
	if err != nil && report == nil {
		return cliError(err)
	}
	failed := report.Failed()
	for i := range failed {
		m := &failed[i]
		fmt.Fprintf(w, "FAILED  %s at version %d: %v\n", label(m), m.To, m.Err)
	}
	fmt.Fprintf(w, "tenant migrations: %d visited, %d migrations applied, %d failed; latest version %d\n",
		len(report.Tenants), report.Applied(), len(failed), report.Latest)
	if err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("tenant migrations failed for %d of %d", len(failed), len(report.Tenants))
	}
	return nil
}

// checkTenants prints every tenant behind and fails if there is one.
func checkTenants(ctx context.Context, tenants *postgres.Tenants, opts postgres.MigrateOptions, w io.Writer) error {
	report, err := tenants.CheckTenants(ctx, opts)
	if err != nil {
		return cliError(err)
	}
	behind := report.Behind()
	for i := range behind {
		m := &behind[i]
		if m.Err != nil {
			fmt.Fprintf(w, "BEHIND  %s: %v\n", label(m), m.Err)
			continue
		}
		fmt.Fprintf(w, "BEHIND  %s at version %d of %d\n", label(m), m.To, report.Latest)
	}
	fmt.Fprintf(w, "tenant migrations: %d of %d behind version %d\n", len(behind), len(report.Tenants), report.Latest)
	if len(behind) > 0 {
		return fmt.Errorf("%d of %d behind the latest tenant migration; run %s tenant migrate", len(behind), len(report.Tenants), appName)
	}
	return nil
}

// label names a migration target for people: the tenant and its storage.
func label(m *postgres.TenantMigration) string {
	if m.Tenant.Slug == "" {
		return m.Target
	}
	return m.Tenant.Slug + " (" + m.Target + ")"
}

// cliError returns a domain error as its caller-safe message: the CLI
// reports rule violations ("slug is reserved") without the internals.
func cliError(err error) error {
	if _, ok := errors.AsType[*domain.Error](err); ok && domain.ErrorCode(err) != domain.EINTERNAL {
		return errors.New(domain.ErrorMessage(err))
	}
	return err
}

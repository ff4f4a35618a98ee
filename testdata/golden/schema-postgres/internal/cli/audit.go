package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"time"

	"example.com/acme/internal/config"
	"example.com/acme/internal/domain"
	"example.com/acme/internal/postgres"
)

// errAuditBroken is the verdict of audit verify on a tampered log.
var errAuditBroken = errors.New("audit verify: the audit log was tampered with")

func runAudit(ctx context.Context, e env, args []string) error {
	actions := map[string]func(context.Context, env, []string) error{"verify": runAuditVerify, "export": runAuditExport, "prune": runAuditPrune}
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
		fmt.Fprintf(e.stderr, "Usage: %s audit verify [--tenant SLUG]\n", appName)
		fmt.Fprintf(e.stderr, "       %s audit export [--tenant SLUG] [--since TIME]\n", appName)
		fmt.Fprintf(e.stderr, "       %s audit prune [--tenant SLUG] [--older-than DURATION]\n", appName)
		if len(args) == 0 {
			return &UsageError{msg: "audit: no action given (want verify, export or prune)"}
		}
		return flag.ErrHelp
	}
	action, ok := actions[args[0]]
	if !ok {
		return &UsageError{msg: fmt.Sprintf("audit: unknown action %q (want verify, export or prune)", args[0])}
	}
	return action(ctx, e, args[1:])
}

// auditScope is the tenants an audit command visits: the one --tenant
// names, or every tenant and then the control-plane changes of none.
type auditScope struct {
	log     *postgres.AuditLog
	tenants *postgres.Tenants
	slug    string
}

// each calls fn with every tenant of the scope, then (for the whole app)
// with the zero Tenant.
func (s auditScope) each(ctx context.Context, fn func(domain.Tenant) error) error {
	if s.slug != "" {
		t, err := s.tenants.Get(ctx, s.slug)
		if err != nil {
			return cliError(err)
		}
		return fn(t)
	}
	after := ""
	for {
		page, err := s.tenants.List(ctx, after, 500)
		if err != nil {
			return err
		}
		for _, t := range page {
			if err := fn(t); err != nil {
				return err
			}
		}
		if len(page) < 500 {
			return fn(domain.Tenant{})
		}
		after = page[len(page)-1].Slug
	}
}

// withAudit parses the audit command's flags and runs fn with its scope.
func withAudit(ctx context.Context, e env, fs *flag.FlagSet, args []string, fn func(auditScope) error) error {
	slug := fs.String("tenant", "", "the `slug` of the one tenant to visit (default: every tenant, and the changes of none)")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	db, err := config.LoadDatabase(e.getenv)
	if err != nil {
		return err
	}
	return withTenants(ctx, db, func(tenants *postgres.Tenants) error {
		return fn(auditScope{log: postgres.NewAuditLog(tenants), tenants: tenants, slug: *slug})
	})
}

// runAuditVerify checks every hash chain of the scope and reports the
// first broken link of each broken one; it fails when any is.
func runAuditVerify(ctx context.Context, e env, args []string) error {
	broken := 0
	err := withAudit(ctx, e, newFlagSet(e, "audit verify"), args, func(s auditScope) error {
		return s.each(ctx, func(t domain.Tenant) error {
			var reports []postgres.ChainReport
			if t.ID == "" {
				r, err := s.log.VerifyUnattributed(ctx)
				if err != nil {
					return err
				}
				reports = append(reports, r)
			} else {
				var err error
				if reports, err = s.log.Verify(ctx, t); err != nil {
					return err
				}
			}
			name := t.Slug
			if name == "" {
				name = "(no tenant)"
			}
			for _, r := range reports {
				if r.OK() {
					fmt.Fprintf(e.stdout, "ok      %s %s: %d entries, head %d\n", name, r.Plane, r.Entries, r.Head)
					continue
				}
				broken++
				fmt.Fprintf(e.stdout, "BROKEN  %s %s: at entry %d: %s\n", name, r.Plane, r.BrokenAt, r.Problem)
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	if broken > 0 {
		return fmt.Errorf("%w: %d chain(s) broken", errAuditBroken, broken)
	}
	return nil
}

// runAuditExport writes the scope's audit entries to standard output as
// JSON lines, oldest first per tenant.
func runAuditExport(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "audit export")
	sinceFlag := fs.String("since", "", "export the entries at or after this `time` (RFC 3339; default: all)")
	var since time.Time
	return withAudit(ctx, e, fs, args, func(s auditScope) error {
		if *sinceFlag != "" {
			var err error
			if since, err = time.Parse(time.RFC3339Nano, *sinceFlag); err != nil {
				return &UsageError{msg: "audit export: --since must be an RFC 3339 time, as in 2026-01-02T15:04:05Z"}
			}
		}
		enc := json.NewEncoder(e.stdout)
		write := func(r postgres.AuditRecord) error { return enc.Encode(r) }
		return s.each(ctx, func(t domain.Tenant) error {
			if t.ID == "" {
				return s.log.ExportUnattributed(ctx, since, write)
			}
			return s.log.Export(ctx, t, since, write)
		})
	})
}

// runAuditPrune deletes the audit entries older than the retention
// (--older-than, or AUDIT_RETENTION; neither keeps everything), keeping
// every chain verifiable. Run it periodically (cron, a scheduled job).
func runAuditPrune(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "audit prune")
	olderThan := fs.String("older-than", e.getenv("AUDIT_RETENTION"), "delete the entries older than this `duration`, as in 8760h (default: AUDIT_RETENTION; unset keeps them forever)")
	return withAudit(ctx, e, fs, args, func(s auditScope) error {
		if *olderThan == "" {
			fmt.Fprintln(e.stdout, "AUDIT_RETENTION is not set: the audit log is kept forever")
			return nil
		}
		retention, err := time.ParseDuration(*olderThan)
		if err != nil || retention <= 0 {
			return &UsageError{msg: "audit prune: the retention must be a positive duration, as in 8760h"}
		}
		cutoff := time.Now().Add(-retention)
		var total int64
		err = s.each(ctx, func(t domain.Tenant) error {
			var n int64
			var pruneErr error
			if t.ID == "" {
				n, pruneErr = s.log.PruneUnattributed(ctx, cutoff)
			} else {
				n, pruneErr = s.log.Prune(ctx, t, cutoff)
			}
			total += n
			return cliError(pruneErr)
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "pruned %d audit entries recorded before %s\n", total, cutoff.UTC().Format(time.RFC3339))
		return nil
	})
}

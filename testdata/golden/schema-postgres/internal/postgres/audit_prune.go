package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"example.com/acme/internal/domain"
	"example.com/acme/internal/jobs"
)

// Retention. Pruning deletes the oldest entries of a chain, up to the last
// one older than the cutoff, and moves the chain's anchor (pruned_seq,
// pruned_hash) to the last deleted entry: Verify then checks the chain
// from the anchor, so pruning never breaks it, and EventsSince answers
// ErrEventGap for an id before the anchor. Only the tables' owner can
// prune: it grants itself DELETE for its transaction and sets audit.prune,
// which the append-only trigger lets DELETE through for.

// Prune deletes tenant t's audit entries (its own log's and its
// control-plane entries) recorded before cutoff, keeping each chain
// verifiable, and returns how many it deleted. It connects as the tables' owner
// (MIGRATE_DATABASE_URL), the only role that may delete audit entries.
func (l *AuditLog) Prune(ctx context.Context, t domain.Tenant, cutoff time.Time) (int64, error) {
	var own int64
	s := l.ts.storage
	err := s.asOwner(ctx, "pruning the audit log", func(conn *pgx.Conn) error {
		return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, setErr := tx.Exec(ctx, enterStatement, s.enterArgs(t)...); setErr != nil {
				return missingSchema(t, setErr)
			}
			var pruneErr error
			own, pruneErr = pruneChain(ctx, tx, tenantChain, t.ID, cutoff)
			return pruneErr
		})
	})
	if err != nil {
		return 0, err
	}
	control, err := l.pruneControl(ctx, t.ID, cutoff)
	return own + control, err
}

// AuditPruneArgs is the job that prunes every audit log to the retention
// (AUDIT_RETENTION): every tenant's two chains and the control-plane
// chain of no tenant.
type AuditPruneArgs struct{}

// Kind implements jobs.Args.
func (AuditPruneArgs) Kind() string { return "audit.prune" }

// AuditPrunePeriodic runs AuditPruneArgs every day at 03:47 UTC. The
// worker schedules it only when a retention is set.
var AuditPrunePeriodic = jobs.PeriodicJob{
	Name:     "audit.prune",
	Schedule: "47 3 * * *",
	Job:      func(time.Time) jobs.Job { return jobs.Job{Args: AuditPruneArgs{}} },
}

// PruneJob is the handler of AuditPruneArgs: it deletes the entries older
// than retention from every chain (see PruneAll); a zero retention keeps
// them all. It prunes in transactions of its own, one per chain, so a
// retried job resumes where a failed one stopped.
func (l *AuditLog) PruneJob(retention time.Duration) jobs.Handler[AuditPruneArgs] {
	return func(ctx context.Context, _ pgx.Tx, _ *jobs.Delivery[AuditPruneArgs]) error {
		if retention <= 0 {
			return nil
		}
		_, err := l.PruneAll(ctx, time.Now().Add(-retention))
		return err
	}
}

// PruneAll prunes, as Prune does, every tenant's chains and the
// control-plane chain of no tenant, and returns how many entries it
// deleted.
func (l *AuditLog) PruneAll(ctx context.Context, cutoff time.Time) (int64, error) {
	const page = 500
	var total int64
	after := ""
	for {
		tenants, err := l.ts.List(ctx, after, page)
		if err != nil {
			return total, err
		}
		for _, t := range tenants {
			n, err := l.Prune(ctx, t, cutoff)
			total += n
			if err != nil {
				return total, fmt.Errorf("prune the audit log of tenant %s: %w", t.Slug, err)
			}
		}
		if len(tenants) < page {
			break
		}
		after = tenants[len(tenants)-1].Slug
	}
	n, err := l.PruneUnattributed(ctx, cutoff)
	return total + n, err
}

// PruneUnattributed is Prune for the control-plane entries of no tenant.
func (l *AuditLog) PruneUnattributed(ctx context.Context, cutoff time.Time) (int64, error) {
	return l.pruneControl(ctx, noTenant, cutoff)
}

func (l *AuditLog) pruneControl(ctx context.Context, tenantID string, cutoff time.Time) (int64, error) {
	var n int64
	prune := func(tx pgx.Tx) error {
		var pruneErr error
		n, pruneErr = pruneChain(ctx, tx, controlChain, tenantID, cutoff)
		return pruneErr
	}
	err := l.ts.storage.asOwner(ctx, "pruning the audit log", func(conn *pgx.Conn) error {
		return pgx.BeginFunc(ctx, conn, prune)
	})
	return n, err
}

// pruneChain prunes tenantID's chain c in tx, as its owner.
func pruneChain(ctx context.Context, tx pgx.Tx, c chain, tenantID string, cutoff time.Time) (int64, error) {
	var args []any
	if c.key != "" {
		args = append(args, tenantID)
	}
	// Writers wait for the head while it is pruned.
	var head int64
	err := tx.QueryRow(ctx, `SELECT seq FROM `+c.head+` WHERE `+c.where(1)+` FOR UPDATE`, args...).Scan(&head)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil // never written
	}
	if err != nil {
		return 0, fmt.Errorf("lock the audit chain: %w", err)
	}
	// The last entry to go: the one before the first entry recorded at or
	// after the cutoff (or the head), so what is pruned is a prefix.
	var last int64
	var hash []byte
	err = tx.QueryRow(ctx, `SELECT seq, hash FROM `+c.entries+` WHERE `+c.where(1)+` AND seq < coalesce(
			(SELECT min(seq) FROM `+c.entries+` WHERE `+c.where(1)+` AND at >= $`+strconv.Itoa(len(args)+1)+`), $`+strconv.Itoa(len(args)+2)+` + 1)
		ORDER BY seq DESC LIMIT 1`, append(args, cutoff, head)...).Scan(&last, &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil // nothing old enough
	}
	if err != nil {
		return 0, fmt.Errorf("find the entries to prune: %w", err)
	}
	table := pgx.Identifier{c.entries}.Sanitize()
	if _, err = tx.Exec(ctx, `SET LOCAL audit.prune = 'on'; GRANT DELETE ON `+table+` TO CURRENT_USER`); err != nil {
		return 0, fmt.Errorf("prune the audit log (as the tables' owner): %w", err)
	}
	tag, err := tx.Exec(ctx, `DELETE FROM `+c.entries+` WHERE `+c.where(1)+` AND seq <= $`+strconv.Itoa(len(args)+1), append(args, last)...)
	if err != nil {
		return 0, fmt.Errorf("prune the audit log: %w", err)
	}
	_, err = tx.Exec(ctx, `UPDATE `+c.head+` SET pruned_seq = $`+strconv.Itoa(len(args)+1)+`, pruned_hash = $`+strconv.Itoa(len(args)+2)+
		` WHERE `+c.where(1), append(args, last, hash)...)
	if err != nil {
		return 0, fmt.Errorf("move the audit chain's anchor: %w", err)
	}
	if _, err = tx.Exec(ctx, `REVOKE DELETE ON `+table+` FROM CURRENT_USER`); err != nil {
		return 0, fmt.Errorf("prune the audit log: %w", err)
	}
	return tag.RowsAffected(), nil
}

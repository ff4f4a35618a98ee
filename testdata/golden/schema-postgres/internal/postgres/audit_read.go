package postgres

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"example.com/acme/internal/domain"
)

// AuditFilter selects a tenant's audit entries. Zero fields select all.
type AuditFilter struct {
	// Actor is a user id or an API key id: entries of changes it made.
	Actor string
	// Action is an action, as in "project.create".
	Action string
	// TargetType and TargetID name what the change was made to.
	TargetType, TargetID string
	// Since and Until bound the entries' time: Since <= At < Until.
	Since, Until time.Time
	// After is the position of the last entry of the previous page; nil
	// for the first page.
	After *AuditPosition
}

// AuditPosition is an entry's place in a tenant's audit log, newest first
// (both planes merged): by time, then the tenant's own entries before the
// control plane's, then by seq.
type AuditPosition struct {
	At    time.Time
	Plane string
	Seq   int64
}

// planeRank orders the planes at one instant (higher first).
func planeRank(plane string) int {
	if plane == PlaneTenant {
		return 1
	}
	return 0
}

// Position is r's place in its tenant's log.
func (r *AuditRecord) Position() AuditPosition {
	return AuditPosition{At: r.At, Plane: r.Plane, Seq: r.Seq}
}

// List returns up to limit of tenant t's audit entries that f selects,
// newest first: the entries of its own storage and the control plane's
// entries of the tenant, merged.
func (l *AuditLog) List(ctx context.Context, t domain.Tenant, f AuditFilter, limit int) ([]AuditRecord, error) {
	var own, control []AuditRecord
	if err := l.ts.InTenantTx(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		var listErr error
		own, listErr = listChain(ctx, tx, tenantChain, t.ID, f, limit)
		return listErr
	}); err != nil {
		return nil, err
	}
	if err := pgx.BeginFunc(ctx, l.ts.pool, func(tx pgx.Tx) error {
		var listErr error
		control, listErr = listChain(ctx, tx, controlChain, t.ID, f, limit)
		return listErr
	}); err != nil {
		return nil, err
	}
	all := make([]AuditRecord, 0, len(own)+len(control))
	all = append(append(all, own...), control...)
	slices.SortFunc(all, func(a, b AuditRecord) int {
		return -cmp.Or(a.At.Compare(b.At), cmp.Compare(planeRank(a.Plane), planeRank(b.Plane)), cmp.Compare(a.Seq, b.Seq))
	})
	return all[:min(len(all), limit)], nil
}

// listChain reads up to limit entries of tenantID's chain c that f
// selects, newest first.
func listChain(ctx context.Context, tx pgx.Tx, c chain, tenantID string, f AuditFilter, limit int) ([]AuditRecord, error) {
	var conds []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if c.key != "" {
		conds = append(conds, c.key+" = "+arg(tenantID))
	}
	if f.Actor != "" {
		p := arg(f.Actor)
		conds = append(conds, "(user_id = "+p+" OR api_key_id = "+p+")")
	}
	for col, v := range map[string]string{"action": f.Action, "target_type": f.TargetType, "target_id": f.TargetID} {
		if v != "" {
			conds = append(conds, col+" = "+arg(v))
		}
	}
	if !f.Since.IsZero() {
		conds = append(conds, "at >= "+arg(f.Since))
	}
	if !f.Until.IsZero() {
		conds = append(conds, "at < "+arg(f.Until))
	}
	if p := f.After; p != nil {
		// Entries after p in the merged order, newest first.
		switch at, rank, cursor := arg(p.At), planeRank(c.plane), planeRank(p.Plane); {
		case rank > cursor:
			conds = append(conds, "at < "+at)
		case rank < cursor:
			conds = append(conds, "at <= "+at)
		default:
			conds = append(conds, "(at, seq) < ("+at+", "+arg(p.Seq)+")")
		}
	}
	where := "true"
	if len(conds) > 0 {
		where = strings.Join(conds, " AND ")
	}
	rows, err := tx.Query(ctx, `SELECT `+entryColumns+` FROM `+c.entries+` WHERE `+where+` ORDER BY at DESC, seq DESC LIMIT `+arg(limit), args...)
	if err != nil {
		return nil, fmt.Errorf("list audit entries: %w", err)
	}
	records, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (AuditRecord, error) {
		return scanRecord(row, c.plane, tenantID)
	})
	if err != nil {
		return nil, fmt.Errorf("list audit entries: %w", err)
	}
	return records, nil
}

// Export calls fn with every audit entry of tenant t at or after since (all
// of them for the zero time), oldest first: its own log's entries, then its
// control-plane entries.
func (l *AuditLog) Export(ctx context.Context, t domain.Tenant, since time.Time, fn func(AuditRecord) error) error {
	err := l.ts.InTenantTx(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		return exportChain(ctx, tx, tenantChain, t.ID, since, fn)
	})
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, l.ts.pool, func(tx pgx.Tx) error {
		return exportChain(ctx, tx, controlChain, t.ID, since, fn)
	})
}

// ExportUnattributed is Export for the control-plane entries of no tenant.
func (l *AuditLog) ExportUnattributed(ctx context.Context, since time.Time, fn func(AuditRecord) error) error {
	return pgx.BeginFunc(ctx, l.ts.pool, func(tx pgx.Tx) error {
		return exportChain(ctx, tx, controlChain, noTenant, since, fn)
	})
}

func exportChain(ctx context.Context, tx pgx.Tx, c chain, tenantID string, since time.Time, fn func(AuditRecord) error) error {
	args := []any{since}
	if c.key != "" {
		args = append(args, tenantID)
	}
	rows, err := tx.Query(ctx, `SELECT `+entryColumns+` FROM `+c.entries+` WHERE at >= $1 AND `+c.where(2)+` ORDER BY seq`, args...)
	if err != nil {
		return fmt.Errorf("export the audit log: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanRecord(rows, c.plane, tenantID)
		if err != nil {
			return fmt.Errorf("export the audit log: %w", err)
		}
		if tenantID == noTenant {
			r.TenantID = ""
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("export the audit log: %w", err)
	}
	return nil
}

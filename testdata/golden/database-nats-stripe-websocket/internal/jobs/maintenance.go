package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"ledger.internal/svc/internal/postgres/db"
)

// ProcessedRetention is how long idempotency keys are kept. A duplicate
// delivered later than this would run again; every broker redelivers far
// sooner.
const ProcessedRetention = 30 * 24 * time.Hour

// PruneArgs is the maintenance job that deletes expired idempotency keys
// and periodic-job slots.
type PruneArgs struct{}

// Kind implements Args.
func (PruneArgs) Kind() string { return "jobs.prune" }

// PrunePeriodic runs PruneArgs every day at 03:17 UTC.
var PrunePeriodic = PeriodicJob{
	Name:     "jobs.prune",
	Schedule: "17 3 * * *",
	Job:      func(time.Time) Job { return Job{Args: PruneArgs{}} },
}

// HandlePrune handles PruneArgs: it prunes the control database and
// enqueues a PruneTenantArgs job for every active tenant, whose jobs keep
// their keys in the tenant's own database. The per-tenant jobs' keys derive
// from this job's, so a second delivery of it enqueues nothing new.
func (c *Client) HandlePrune(ctx context.Context, tx pgx.Tx, d *Delivery[PruneArgs]) error {
	if err := pruneControlPlane(ctx, tx); err != nil {
		return err
	}
	q := db.New(tx)
	const page = 500
	after := ""
	for {
		tenants, err := q.ListActiveTenants(ctx, db.ListActiveTenantsParams{AfterSlug: after, MaxItems: page})
		if err != nil {
			return fmt.Errorf("list tenants to prune: %w", err)
		}
		for _, t := range tenants {
			_, err = c.Enqueue(ctx, tx, Job{
				Tenant:  Tenant{ID: t.ID.String(), Slug: t.Slug},
				Args:    PruneTenantArgs{},
				Options: Options{Key: d.Key + ":" + t.ID.String()},
			})
			if err != nil {
				return err
			}
		}
		if len(tenants) < page {
			return nil
		}
		after = tenants[len(tenants)-1].Slug
	}
}

// PruneTenantArgs deletes one tenant's expired idempotency keys.
type PruneTenantArgs struct{}

// Kind implements Args.
func (PruneTenantArgs) Kind() string { return "jobs.prune_tenant" }

// HandlePruneTenant handles PruneTenantArgs, inside the tenant's database.
func HandlePruneTenant(ctx context.Context, tx pgx.Tx, _ *Delivery[PruneTenantArgs]) error {
	before := pgtype.Timestamptz{Time: time.Now().Add(-ProcessedRetention), Valid: true}
	if _, err := TenantQueries(tx).PruneTenantProcessedJobs(ctx, before); err != nil {
		return fmt.Errorf("prune job keys: %w", err)
	}
	return nil
}

// pruneControlPlane deletes the control plane's expired job keys and
// periodic slots.
func pruneControlPlane(ctx context.Context, tx pgx.Tx) error {
	before := pgtype.Timestamptz{Time: time.Now().Add(-ProcessedRetention), Valid: true}
	q := db.New(tx)
	if _, err := q.PruneProcessedJobs(ctx, before); err != nil {
		return fmt.Errorf("prune job keys: %w", err)
	}
	if _, err := q.PrunePeriodicRuns(ctx, before); err != nil {
		return fmt.Errorf("prune periodic slots: %w", err)
	}
	if _, err := q.PruneMailSent(ctx, before); err != nil {
		return fmt.Errorf("prune sent mail: %w", err)
	}
	return nil
}

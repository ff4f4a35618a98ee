package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/acme/shop-api/internal/postgres/db"
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

// HandlePrune handles PruneArgs.
func HandlePrune(ctx context.Context, tx pgx.Tx, _ *Delivery[PruneArgs]) error {
	return pruneControlPlane(ctx, tx)
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

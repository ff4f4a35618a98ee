package jobs_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"example.com/acme/internal/jobs"
)

// River's timings, which the shared tests wait on.
const (
	jobTimeout = 10 * time.Second
	// River has no heartbeat: a job running longer than this is rescued.
	rescueAfter = 11 * time.Second
	// River's scheduler makes retried and scheduled jobs available every 5s.
	retryTimeout = 30 * time.Second
	// River's rescuer runs every 30s and takes jobs running for rescueAfter.
	crashRecoveryDelay   = 0
	crashRecoveryTimeout = 75 * time.Second
)

// requireBroker is a no-op: River's broker is the database.
// listsRunning says whether List can select running jobs: River records which jobs are running.
const listsRunning = true

func requireBroker(tb testing.TB) { tb.Helper() }

func prepareBroker(ctx context.Context, pool *pgxpool.Pool) error {
	_, err := jobs.Migrate(ctx, pool, slog.New(slog.DiscardHandler))
	return err
}

// brokerConfig needs nothing for River, which runs on Config.Pool.
func brokerConfig(*jobs.Config) (func(), error) {
	return func() {}, nil
}

func cleanupBroker(testing.TB, *testBundle) {}

// jobGone reports whether River completed the job.
func jobGone(tb testing.TB, b *testBundle, id string) bool {
	tb.Helper()
	var state string
	require.NoError(tb, b.pool.QueryRow(tb.Context(), `SELECT state::text FROM river.river_job WHERE id = $1::bigint`, id).Scan(&state))
	return state == "completed"
}

func TestRiverMigrationsAreIdempotent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	applied, err := jobs.Migrate(t.Context(), b.pool, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	require.Empty(t, applied, "setup applied them all")
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'river_job'`, jobs.Schema))
}

func TestRiverJobIsInsertedInTheBusinessTransaction(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tx, err := b.pool.Begin(t.Context())
	require.NoError(t, err)
	res, err := b.client.Enqueue(t.Context(), tx, b.job("in-tx"))
	require.NoError(t, err)
	require.Equal(t, 0, b.count(t, `SELECT count(*) FROM river.river_job`), "invisible before commit")
	require.NoError(t, tx.Commit(t.Context()))
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM river.river_job WHERE id = $1::bigint`, res.ID))
}

package jobs_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"ledger.internal/svc/internal/broker"
	"ledger.internal/svc/internal/config"
	"ledger.internal/svc/internal/jobs"
	"ledger.internal/svc/internal/testsvc"
)

// JetStream's timings, which the shared tests wait on.
const (
	jobTimeout = 10 * time.Second
	// The consumer's AckWait: a job unheard of this long is redelivered.
	rescueAfter          = 2 * time.Second
	retryTimeout         = 15 * time.Second
	crashRecoveryDelay   = 0
	crashRecoveryTimeout = 20 * time.Second
)

// listsRunning says whether List can select running jobs: JetStream does not say which messages a worker holds.
const listsRunning = false

func requireBroker(tb testing.TB) {
	tb.Helper()
	testsvc.NATSURL(tb)
}

func prepareBroker(context.Context, *pgxpool.Pool) error { return nil }

func brokerConfig(cfg *jobs.Config) (func(), error) {
	c, err := broker.Open(broker.Options{Config: config.Broker{URL: os.Getenv("TEST_NATS_URL"), Namespace: cfg.Name}, ClientName: "test"})
	if err != nil {
		return nil, err
	}
	cfg.Broker = c
	return func() { _ = c.Close() }, nil
}

func js(tb testing.TB) jetstream.JetStream {
	tb.Helper()
	nc, err := nats.Connect(os.Getenv("TEST_NATS_URL"))
	require.NoError(tb, err)
	tb.Cleanup(nc.Close)
	j, err := jetstream.New(nc)
	require.NoError(tb, err)
	return j
}

func streamPrefix(b *testBundle) string { return strings.ToUpper(b.name) }

// cleanupBroker deletes the test's streams and bucket from the shared server.
func cleanupBroker(tb testing.TB, b *testBundle) {
	tb.Helper()
	ctx := context.WithoutCancel(tb.Context())
	j := js(tb)
	for _, s := range []string{"_JOBS", "_JOBS_DEAD"} {
		_ = j.DeleteStream(ctx, streamPrefix(b)+s)
	}
	_ = j.DeleteKeyValue(ctx, streamPrefix(b)+"_JOBS_FAILED")
}

// brokerHas reports whether the job stream holds the job.
func brokerHas(tb testing.TB, b *testBundle, id string) bool {
	tb.Helper()
	s, err := js(tb).Stream(tb.Context(), streamPrefix(b)+"_JOBS")
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return false // nothing published yet
	}
	require.NoError(tb, err)
	info, err := s.Info(tb.Context(), jetstream.WithSubjectFilter(b.name+".jobs.*."+id))
	require.NoError(tb, err)
	return len(info.State.Subjects) > 0
}

// jobGone reports whether the job was acknowledged (and so removed from
// the work-queue stream).
func jobGone(tb testing.TB, b *testBundle, id string) bool {
	tb.Helper()
	return !brokerHas(tb, b, id)
}

func TestStreamsAreFileBackedWithADuplicateWindow(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, err := b.client.List(t.Context(), jobs.Query{State: jobs.StateFailed, Limit: 1}) // creates the streams
	require.NoError(t, err)
	s, err := js(t).Stream(t.Context(), streamPrefix(b)+"_JOBS")
	require.NoError(t, err)
	cfg := s.CachedInfo().Config
	require.Equal(t, jetstream.FileStorage, cfg.Storage)
	require.Equal(t, jetstream.WorkQueuePolicy, cfg.Retention)
	require.Equal(t, jobs.DuplicateWindow, cfg.Duplicates)
	dead, err := js(t).Stream(t.Context(), streamPrefix(b)+"_JOBS_DEAD")
	require.NoError(t, err)
	require.Equal(t, jetstream.FileStorage, dead.CachedInfo().Config.Storage)
}

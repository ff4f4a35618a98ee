package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/acme/shop-api/internal/jobs"
)

func (b *testBundle) outbox(tb testing.TB) int {
	tb.Helper()
	return b.count(tb, `SELECT count(*) FROM job_outbox`)
}

// TestRelayStoppedBeforeItStarts is a shutdown that comes while the relay
// is still taking its connection: a clean stop, not an error that fails
// the worker's exit.
func TestRelayStoppedBeforeItStarts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.NoError(t, jobs.Relay(ctx, b.client, time.Second))
}

// TestCommittedJobWaitsInTheOutbox is the crash between commit and
// publish: the job is committed, nothing has published it, and a relay
// that starts later delivers it once.
func TestCommittedJobWaitsInTheOutbox(t *testing.T) {
	t.Parallel()
	b := setup(t)
	res := b.enqueue(t, b.job("waiting"))
	require.Equal(t, 1, b.outbox(t))
	require.False(t, brokerHas(t, b, res.ID), "not published yet")

	b.startWorker(t)
	waitFor(t, 15*time.Second, func() bool { return b.effects(t, "waiting") == 1 }, "the relay publishes it and it runs")
	waitFor(t, 5*time.Second, func() bool { return b.outbox(t) == 0 }, "the relayed job leaves the outbox")
	time.Sleep(time.Second)
	require.Equal(t, 1, b.runs(t, "waiting"))
}

// TestRelayProcessCrashAfterPublishing kills a relay process between
// publishing a job and deleting it from the outbox. The next relay
// publishes it again; the broker's deduplication (asynq task id, JetStream
// Nats-Msg-Id) stores it once, and it runs once.
func TestRelayProcessCrashAfterPublishing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	res := b.enqueue(t, b.job("relayed"))

	child, out := startChild(t, b, "relay")
	waitFor(t, 30*time.Second, func() bool { return b.runs(t, "relay published") == 1 }, "the child relay published")
	require.NoError(t, child.Process.Kill())
	_ = child.Wait()
	t.Logf("child output:\n%s", out)
	require.Equal(t, 1, b.outbox(t), "the relay's transaction died with it: the job is still in the outbox")
	require.True(t, brokerHas(t, b, res.ID), "and the broker already has it")

	b.startWorker(t)
	waitFor(t, 15*time.Second, func() bool { return b.effects(t, "relayed") == 1 }, "the job runs")
	waitFor(t, 5*time.Second, func() bool { return b.outbox(t) == 0 }, "the second relay cleared the outbox")
	time.Sleep(time.Second)
	require.Equal(t, 1, b.runs(t, "relayed"), "delivered once")
	require.Equal(t, 1, b.effects(t, "relayed"))
}

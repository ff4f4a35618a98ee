package jobs_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/acme/shop-api/internal/broker"
	"github.com/acme/shop-api/internal/config"
	"github.com/acme/shop-api/internal/jobs"
	"github.com/acme/shop-api/internal/testsvc"
)

// asynq's timings, which the shared tests wait on.
const (
	jobTimeout   = 10 * time.Second
	rescueAfter  = 0 // asynq's lease is fixed
	retryTimeout = 20 * time.Second
	// asynq recovers a dead worker's task once its 30s lease has been
	// expired for 30s, when a worker starts or once a minute.
	crashRecoveryDelay   = 62 * time.Second
	crashRecoveryTimeout = 20 * time.Second
)

// listsRunning says whether List can select running jobs: asynq records which tasks are active.
const listsRunning = true

func requireBroker(tb testing.TB) {
	tb.Helper()
	testsvc.RedisURL(tb)
}

func prepareBroker(context.Context, *pgxpool.Pool) error { return nil }

func redisClient() (*redis.Client, error) {
	opts, err := redis.ParseURL(os.Getenv("TEST_REDIS_URL"))
	if err != nil {
		return nil, err
	}
	return redis.NewClient(opts), nil
}

func brokerConfig(cfg *jobs.Config) (func(), error) {
	c, err := broker.Open(broker.Options{Config: config.Broker{URL: os.Getenv("TEST_REDIS_URL"), Namespace: cfg.Name}, ClientName: "test"})
	if err != nil {
		return nil, err
	}
	cfg.Broker = c
	return func() { _ = c.Close() }, nil
}

func inspector(tb testing.TB) *asynq.Inspector {
	tb.Helper()
	c, err := redisClient()
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = c.Close() })
	return asynq.NewInspectorFromRedisClient(c)
}

// cleanupBroker deletes the test's queue from the shared Redis.
func cleanupBroker(tb testing.TB, b *testBundle) {
	tb.Helper()
	for _, q := range []string{b.queue, "idle"} {
		err := inspector(tb).DeleteQueue(b.name+":"+q, true)
		if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
			tb.Errorf("delete queue %s: %v", q, err)
		}
	}
}

// brokerHas reports whether asynq holds the job.
func brokerHas(tb testing.TB, b *testBundle, id string) bool {
	tb.Helper()
	_, err := inspector(tb).GetTaskInfo(b.name+":"+b.queue, id)
	if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
		return false
	}
	require.NoError(tb, err)
	return true
}

// jobGone reports whether asynq has finished with the job (completed
// tasks are not retained).
func jobGone(tb testing.TB, b *testBundle, id string) bool {
	tb.Helper()
	return !brokerHas(tb, b, id)
}

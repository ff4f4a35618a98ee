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

	"github.com/acme/shop/internal/jobs"
	"github.com/acme/shop/internal/testsvc"
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

func requireBroker(t testing.TB) {
	t.Helper()
	testsvc.RedisURL(t)
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
	c, err := redisClient()
	if err != nil {
		return nil, err
	}
	cfg.Redis = c
	return func() { _ = c.Close() }, nil
}

func inspector(t testing.TB) *asynq.Inspector {
	t.Helper()
	c, err := redisClient()
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return asynq.NewInspectorFromRedisClient(c)
}

// cleanupBroker deletes the test's queue from the shared Redis.
func cleanupBroker(t testing.TB, b *testBundle) {
	t.Helper()
	for _, q := range []string{b.queue, "idle"} {
		err := inspector(t).DeleteQueue(b.name+":"+q, true)
		if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
			t.Errorf("delete queue %s: %v", q, err)
		}
	}
}

// brokerHas reports whether asynq holds the job.
func brokerHas(t testing.TB, b *testBundle, id string) bool {
	t.Helper()
	_, err := inspector(t).GetTaskInfo(b.name+":"+b.queue, id)
	if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
		return false
	}
	require.NoError(t, err)
	return true
}

// jobGone reports whether asynq has finished with the job (completed
// tasks are not retained).
func jobGone(t testing.TB, b *testBundle, id string) bool {
	t.Helper()
	return !brokerHas(t, b, id)
}

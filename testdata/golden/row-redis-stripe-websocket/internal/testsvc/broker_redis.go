package testsvc

import (
	"strings"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// RedisURL returns TEST_REDIS_URL.
func RedisURL(tb testing.TB) string {
	tb.Helper()
	return lookup(tb, "TEST_REDIS_URL", "Redis")
}

// BrokerEnv returns the broker's part of AppEnv: the live Redis, and a
// JOBS_NAMESPACE of the test's own, since tests run in parallel against
// one server.
func BrokerEnv(tb testing.TB) map[string]string {
	tb.Helper()
	return map[string]string{
		"REDIS_URL":      RedisURL(tb),
		"JOBS_NAMESPACE": jobsNamespace(tb),
	}
}

// jobsNamespace returns a fresh JOBS_NAMESPACE for a test and removes
// the asynq queues the jobs left under it in the shared Redis when the
// test ends.
func jobsNamespace(tb testing.TB) string {
	tb.Helper()
	ns := "test-" + randomLabel()
	url := RedisURL(tb)
	tb.Cleanup(func() {
		opts, err := redis.ParseURL(url)
		if err != nil {
			tb.Errorf("TEST_REDIS_URL: %v", err)
			return
		}
		client := redis.NewClient(opts)
		defer func() { _ = client.Close() }()
		inspector := asynq.NewInspectorFromRedisClient(client)
		queues, err := inspector.Queues()
		if err != nil {
			tb.Errorf("list asynq queues: %v", err)
			return
		}
		for _, q := range queues {
			if strings.HasPrefix(q, ns+":") {
				_ = inspector.DeleteQueue(q, true)
			}
		}
	})
	return ns
}

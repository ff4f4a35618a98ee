package testsvc

import (
	"testing"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// JobsNamespace returns a fresh JOBS_NAMESPACE for a test and removes
// whatever the jobs left under it in the shared broker when the test ends.
func JobsNamespace(tb testing.TB) string {
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
			if len(q) > len(ns) && q[:len(ns)+1] == ns+":" {
				_ = inspector.DeleteQueue(q, true)
			}
		}
	})
	return ns
}

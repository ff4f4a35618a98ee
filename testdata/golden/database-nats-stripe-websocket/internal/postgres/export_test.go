package postgres

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// ControlPool exposes the control-plane pool to the tests.
func ControlPool(ts *Tenants) *pgxpool.Pool {
	return ts.pool
}

// Cached reports whether ts has slug's tenant in its resolution cache.
func Cached(ts *Tenants, slug string) bool {
	_, ok := ts.cache.get(slug)
	return ok
}

// SetWatchHeartbeat shortens how long ts's listener waits for a
// notification before it checks its connection; call it before ts caches
// a tenant.
func SetWatchHeartbeat(ts *Tenants, d time.Duration) {
	ts.watch.heartbeat = d
}

// WatchPings is how many heartbeat pings ts's listener got answered.
func WatchPings(ts *Tenants) int64 {
	return ts.watch.pings.Load()
}

// ListeningPID is the backend pid of ts's listening connection, 0 while
// it is not listening.
func ListeningPID(ts *Tenants) uint32 {
	return ts.watch.pid.Load()
}

// WaitListening waits until ts listens for tenant changes and returns the
// backend pid of its listening connection; not before is a change made
// elsewhere sure to reach ts by notification.
func WaitListening(tb testing.TB, ts *Tenants) uint32 {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if pid := ts.watch.pid.Load(); pid != 0 {
			return pid
		}
		if time.Now().After(deadline) {
			tb.Fatal("the tenant change listener did not start listening within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

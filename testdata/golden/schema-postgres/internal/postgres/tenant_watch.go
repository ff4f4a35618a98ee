package postgres

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// Every process that resolves tenants caches them (tenant_cache.go), and a
// tenant can change in another process: suspended by the CLI, resumed by
// another instance of the app, edited in psql. A trigger on the tenants
// table notifies channel tenantChangedChannel with the slug of every
// changed tenant when the change commits (migration 00012), and each
// process listens on a connection of its own and forgets the slug at once.
//
// A notification sent while the listening connection is down is lost, so
// whenever it (re)connects the whole cache is dropped, after LISTEN is in
// place: a change that landed while nobody listened is read afresh, and
// one landing from now on is heard.
//
// The cache trusts its entries for long (DefaultListeningTTL) only while
// the listener proves it hears: LISTEN just put in place, or a
// notification heard within the resolve TTL. A quiet listener proves it
// with a heartbeat: it notifies its own channel with an empty payload (no
// tenant's slug) and hears that probe come back on its connection. A
// connection cut without a word, or a transaction-pooling proxy that
// hands the LISTEN to a server connection the listener is no longer on,
// hears no probe, and the cache falls back to the resolve TTL.
//
// The listener starts with the first tenant a process caches, so commands
// that never resolve a tenant (tenant list, migrate) open no connection for it.

// tenantChangedChannel is the channel the tenants table's trigger notifies.
const tenantChangedChannel = "tenant_changed"

// Reconnection backoff of the listener, doubled after each failed attempt
// up to the maximum, with jitter so that many instances do not reconnect in
// step after a database restart.
const (
	watchMinBackoff = 100 * time.Millisecond
	watchMaxBackoff = 30 * time.Second
)

// The listener waits a quarter of the resolve TTL for a notification
// before it probes its connection (see above), so that a quiet listener
// proves it hears well within the TTL; and at most watchHeartbeat, so
// that a connection cut without a goodbye (a network partition) does not
// go unnoticed until TCP keepalive gives up on it.
const watchHeartbeat = 30 * time.Second

// watchProbeTimeout bounds the heartbeat's probe. It does not shrink with
// the heartbeat: a busy server may take a while to answer, and a slow
// answer is not a dead connection.
const watchProbeTimeout = 10 * time.Second

// watchProbe is the payload of the heartbeat's probe: no tenant's slug.
const watchProbe = ""

// tenantWatch is the listener of one Tenants.
type tenantWatch struct {
	ts        *Tenants
	config    *pgx.ConnConfig
	logger    *slog.Logger
	heartbeat time.Duration // a quarter of the resolve TTL, at most watchHeartbeat; tests shorten it
	once      sync.Once
	cancel    context.CancelFunc
	done      chan struct{}
	pid       atomic.Uint32 // backend of the listening connection; 0 while not listening
	probes    atomic.Int64  // heartbeat probes the server answered
}

func newTenantWatch(ts *Tenants, config *pgx.ConnConfig, logger *slog.Logger) *tenantWatch {
	config.RuntimeParams["application_name"] += "-listen"
	heartbeat := min(watchHeartbeat, ts.cache.ttl/4)
	return &tenantWatch{ts: ts, config: config, logger: logger, heartbeat: heartbeat, done: make(chan struct{})}
}

// start starts the listener unless it runs already (or was stopped). It
// outlives ctx, the request that happened to start it, and keeps only its
// values; stop ends it.
func (w *tenantWatch) start(ctx context.Context) {
	w.once.Do(func() {
		runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		w.cancel = cancel
		go w.run(runCtx)
	})
}

// stop stops the listener, if it was started, and waits for it; one never
// started never starts. Stopping again changes nothing.
func (w *tenantWatch) stop() {
	w.once.Do(func() {})
	if w.cancel != nil {
		w.cancel()
		<-w.done
	}
}

// run listens until ctx ends, reconnecting with backoff.
func (w *tenantWatch) run(ctx context.Context) {
	defer close(w.done)
	backoff := watchMinBackoff
	for {
		listened, err := w.listen(ctx)
		if ctx.Err() != nil {
			return
		}
		// Whatever was heard so far, what comes until the next LISTEN is lost.
		w.ts.cache.clear()
		if listened {
			backoff = watchMinBackoff
		}
		w.logger.WarnContext(ctx, "tenant change listener disconnected; reconnecting",
			slog.String("error", err.Error()), slog.Duration("backoff", backoff))
		wait := backoff/2 + rand.N(backoff/2+1) //nolint:gosec // G404: jitter needs no secure randomness
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		backoff = min(2*backoff, watchMaxBackoff)
	}
}

// listen connects, listens and invalidates every tenant it hears about
// until the connection fails or ctx ends. listened says whether LISTEN got
// in place.
func (w *tenantWatch) listen(ctx context.Context) (listened bool, err error) {
	conn, err := pgx.ConnectConfig(ctx, w.config)
	if err != nil {
		return false, err
	}
	defer func() {
		w.ts.cache.deaf()
		w.pid.Store(0)
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{tenantChangedChannel}.Sanitize()); err != nil {
		return false, err
	}
	// Changes made before LISTEN was in place were not heard.
	w.ts.cache.clear()
	w.ts.cache.heard()
	w.pid.Store(conn.PgConn().PID())
	for {
		waitCtx, cancel := context.WithTimeout(ctx, w.heartbeat)
		n, err := conn.WaitForNotification(waitCtx)
		cancel()
		switch {
		case err == nil:
			// Any notification, another process's probe too, shows the
			// LISTEN is in place on this live connection.
			w.ts.cache.heard()
			if n.Payload != watchProbe {
				w.ts.cache.invalidate(n.Payload)
			}
		case ctx.Err() != nil:
			return true, ctx.Err()
		case errors.Is(err, context.DeadlineExceeded) || waitCtx.Err() != nil:
			if probeErr := w.probe(ctx, conn); probeErr != nil {
				return true, probeErr
			}
		default:
			return true, err
		}
	}
}

// probe notifies the listener's own channel with watchProbe, within
// watchProbeTimeout: an error means the connection is gone; hearing the
// probe (in listen) means the LISTEN is in place on it.
func (w *tenantWatch) probe(ctx context.Context, conn *pgx.Conn) error {
	ctx, cancel := context.WithTimeout(ctx, watchProbeTimeout)
	defer cancel()
	if _, err := conn.Exec(ctx, "SELECT pg_notify($1, $2)", tenantChangedChannel, watchProbe); err != nil {
		return err
	}
	w.probes.Add(1)
	return nil
}

package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/acme/shop-api/internal/broker"
	"github.com/acme/shop-api/internal/config"
	"github.com/acme/shop-api/internal/domain"
	"github.com/acme/shop-api/internal/postgres"
	"github.com/acme/shop-api/internal/realtime"
)

// brokerAnnouncer tells every serving instance of the access changes a
// command made (a tenant suspended, ...), as the control plane reports
// them once committed, so that they close the sockets concerned within
// realtime.RevocationBound. It opens the broker on the first change only:
// commands that change no access need no broker. The change is made
// already: if the announcement cannot go out (the broker's settings are
// missing, or it is down), the command says so and the sockets close at
// their periodic re-check (REALTIME_RECHECK_INTERVAL).
type brokerAnnouncer struct {
	e       env
	closers []func()
	events  *realtime.Publisher
	failed  bool
}

func (a *brokerAnnouncer) AccessChanged(ctx context.Context, c postgres.AccessChange) {
	if a.events == nil && !a.failed {
		if err := a.open(ctx); err != nil {
			a.failed = true
			fmt.Fprintf(a.e.stderr, "warning: could not tell the running servers (%v); their event sockets close at their next re-check (REALTIME_RECHECK_INTERVAL)\n", err)
		}
	}
	if a.events != nil {
		a.events.AccessChanged(ctx, c)
	}
}

// open connects to the broker the configuration names.
func (a *brokerAnnouncer) open(ctx context.Context) error {
	cfg, err := config.Load(a.e.getenv)
	if err != nil {
		return err
	}
	pool, err := postgres.Open(ctx, cfg.Database.URL, appName+"-cli")
	if err != nil {
		return err
	}
	a.closers = append(a.closers, pool.Close)
	b, err := broker.Open(broker.Options{Config: cfg.Broker, Pool: pool, ClientName: appName + "-cli"})
	if err != nil {
		return err
	}
	a.closers = append(a.closers, func() { _ = b.Close() })
	logger := slog.New(slog.NewTextHandler(a.e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a.events = realtime.NewPublisher(b, logger)
	return nil
}

// close closes what open opened, last first.
func (a *brokerAnnouncer) close() {
	for _, c := range slices.Backward(a.closers) {
		c()
	}
}

// auditHistory replays a reconnecting client's missed events from the
// audit log, whose entries they are: an id the log no longer keeps (or
// never had) is realtime's gap, and the client is told to resync.
type auditHistory struct{ log *postgres.AuditLog }

func (h auditHistory) EventsSince(ctx context.Context, t domain.Tenant, afterID string, limit int) ([]postgres.Event, error) {
	events, err := h.log.EventsSince(ctx, t, afterID, limit)
	if errors.Is(err, postgres.ErrEventGap) {
		return nil, fmt.Errorf("%w: %w", realtime.ErrGap, err)
	}
	return events, err
}

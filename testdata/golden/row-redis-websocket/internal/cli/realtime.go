package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/acme/shop-api/internal/broker"
	"github.com/acme/shop-api/internal/config"
	"github.com/acme/shop-api/internal/domain"
	"github.com/acme/shop-api/internal/postgres"
	"github.com/acme/shop-api/internal/realtime"
)

// announceSuspension tells every serving instance that tenant t was
// suspended, so that they close its event sockets within
// realtime.RevocationBound. The suspension is made already: if the
// announcement cannot go out (the broker's settings are missing, or it is
// down), the command says so and the sockets close at their periodic
// re-check (REALTIME_RECHECK_INTERVAL).
func announceSuspension(ctx context.Context, e env, t domain.Tenant) {
	err := revokeOnBroker(ctx, e, realtime.Revocation{Tenant: t.ID})
	if err != nil {
		fmt.Fprintf(e.stderr, "warning: could not tell the running servers (%v); the tenant's event sockets close at their next re-check (REALTIME_RECHECK_INTERVAL)\n", err)
	}
}

// revokeOnBroker publishes r on the broker's pub/sub.
func revokeOnBroker(ctx context.Context, e env, r realtime.Revocation) error {
	cfg, err := config.Load(e.getenv)
	if err != nil {
		return err
	}
	pool, err := postgres.Open(ctx, cfg.Database.URL, appName+"-cli")
	if err != nil {
		return err
	}
	defer pool.Close()
	b, err := broker.Open(broker.Options{Config: cfg.Broker, Pool: pool, ClientName: appName + "-cli"})
	if err != nil {
		return err
	}
	defer func() { _ = b.Close() }()
	return realtime.PublishRevocation(ctx, b, r)
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

// Package broker connects to the server behind the background-job broker and
// carries the application's pub/sub over it. Each broker has a file of its
// own behind the same API: Open, Conn.Checks, Conn.Close, and Conn's
// Publish and Subscribe (the PubSub interface).
package broker

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/acme/shop-api/internal/config"
)

// Options is what opening the broker may need; each broker takes its part.
type Options struct {
	// Config is the broker's configuration (config.Config.Broker).
	Config config.Broker
	// Pool is the application's database. A broker living in Postgres runs
	// on it; the others ignore it.
	Pool *pgxpool.Pool
	// SessionPool keeps its sessions (DATABASE_SESSION_URL) when Pool goes
	// through a transaction-pooling proxy; Postgres pub/sub listens on
	// connections made like its own. Nil means Pool.
	SessionPool *pgxpool.Pool
	// ClientName names the connection on the server, for its operators.
	ClientName string
}

// Check is a readiness check of the broker's server.
type Check struct {
	Name string
	Ping func(context.Context) error
}

// PubSub publishes short messages on tenant-scoped topics to every current
// subscriber, in every process. Delivery is at most once: a subscriber that
// is not listening when a message is published never sees it, so what must
// not be lost goes through jobs or the database, and a message only tells
// subscribers to look.
type PubSub interface {
	// Publish sends payload, a short text such as JSON, to the topic's
	// subscribers.
	Publish(ctx context.Context, topic Topic, payload []byte) error
	// Subscribe listens on topic and returns once listening: a message
	// published after it returns is delivered. The channel is closed when
	// ctx ends.
	Subscribe(ctx context.Context, topic Topic) (<-chan []byte, error)
}

// Topic is one tenant's stream of messages of one kind. Tenants never share
// a topic, so a subscriber sees only its tenant's messages.
type Topic struct {
	// Tenant is the tenant's id.
	Tenant string
	// Name is the kind of message, such as "events".
	Name string
}

// maxTopicLength bounds a topic's two parts together, so that every broker
// names it exactly: a Postgres channel name stops at 63 bytes, and the parts
// are joined by one separator.
const maxTopicLength = 62

// check reports a topic some broker could not name exactly: each part is
// lowercase letters, digits and hyphens (a UUID fits), at most 62 together.
func (t Topic) check() error {
	if t.Tenant == "" || t.Name == "" || len(t.Tenant)+len(t.Name) > maxTopicLength {
		return fmt.Errorf("broker: topic %q/%q: tenant and name must be set and at most %d characters together", t.Tenant, t.Name, maxTopicLength)
	}
	for _, r := range t.Tenant + t.Name {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
			return fmt.Errorf("broker: topic %q/%q: only lowercase letters, digits and hyphens", t.Tenant, t.Name)
		}
	}
	return nil
}

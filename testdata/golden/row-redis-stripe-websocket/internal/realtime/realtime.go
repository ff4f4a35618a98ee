// Package realtime pushes a tenant's events to its connected WebSocket
// clients, on every instance of the app.
//
// An event is the event of an audit entry (postgres.Event: id, type,
// target, time; no payload: a client that may see the target reads it).
// The tenant unit of work hands it to a Publisher once its transaction
// committed; the Publisher sends it on the tenant's topic of the broker's
// pub/sub (Postgres LISTEN/NOTIFY, Redis pub/sub or NATS subjects), and
// every instance's Hub, subscribed once per tenant that has clients there,
// hands it to those of its clients that may see it: the permission is
// checked when the event is delivered, not only when the client connected.
//
// Revocation (logout, an API key revoked, a member removed or demoted, a
// tenant suspended) is a small message on the control topic, sent by the
// control plane once the change committed (postgres.AccessWatcher): every Hub
// re-checks the clients it concerns and closes those no longer allowed,
// within RevocationBound; a periodic re-check bounds what a lost message
// could leave open.
package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/acme/shop-api/internal/broker"
	"github.com/acme/shop-api/internal/domain"
	"github.com/acme/shop-api/internal/postgres"
)

// Topic names on the broker: every tenant's events on its own topic, and
// one control topic for revocations, which concern users and keys across
// tenants (its tenant part is no tenant id: those are UUIDs).
const (
	eventsTopic  = "events"
	controlTopic = "realtime-access"
	controlScope = "all-tenants"
)

// Message is what a client receives: an event, or {"type":"resync"} when
// the events it missed cannot be replayed and it must read afresh. An
// event's id is its audit entry's; without an audit log recording entries
// events have none, and reconnecting clients resync.
type Message struct {
	ID     string    `json:"id,omitempty"`
	Type   string    `json:"type"`
	Target *Target   `json:"target,omitempty"`
	At     time.Time `json:"at,omitzero"`

	// payload is the Message's JSON as it came from the broker, sent as
	// is (nil: marshal it).
	payload []byte
}

// Target is the object an event happened to.
type Target struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// ResyncType is the type of the message telling a client it missed events
// that cannot be replayed.
const ResyncType = "resync"

// messageOf is the message of event e.
func messageOf(e postgres.Event) Message {
	return Message{ID: e.ID, Type: e.Type, Target: &Target{Type: e.TargetType, ID: e.TargetID}, At: e.At.UTC()}
}

// History returns the events of tenant t after the event afterID, oldest
// first, at most limit of them. The audit log is one. An error (the id is
// unknown, or older than what is kept) means they cannot be replayed: the
// client is told to resync.
type History interface {
	EventsSince(ctx context.Context, t domain.Tenant, afterID string, limit int) ([]postgres.Event, error)
}

// ErrGap is what a History returns, wrapped, when the events after an id
// are no longer (or never were) there: the client must resync. Any other
// error of a History is logged too; the client resyncs all the same.
var ErrGap = errors.New("realtime: events missed beyond what can be replayed")

// Publisher sends events and revocations on the broker's pub/sub. It is
// the unit of work's postgres.Publisher: an event that cannot be sent is
// logged, never an error of the change, which has happened (delivery is at
// most once; a client that reconnects replays what it missed).
type Publisher struct {
	ps     broker.PubSub
	logger *slog.Logger
}

var _ postgres.Publisher = (*Publisher)(nil)

// NewPublisher returns a Publisher over ps.
func NewPublisher(ps broker.PubSub, logger *slog.Logger) *Publisher {
	return &Publisher{ps: ps, logger: logger}
}

// Publish sends e to the clients of its tenant, on every instance.
func (p *Publisher) Publish(ctx context.Context, e postgres.Event) {
	if e.Tenant.ID == "" {
		p.logger.WarnContext(ctx, "event without a tenant not published", slog.String("type", e.Type))
		return
	}
	payload, err := json.Marshal(messageOf(e))
	if err == nil {
		err = p.ps.Publish(ctx, broker.Topic{Tenant: e.Tenant.ID, Name: eventsTopic}, payload)
	}
	if err != nil {
		p.logger.WarnContext(ctx, "event not published", slog.String("type", e.Type), slog.String("id", e.ID), slog.Any("error", err))
	}
}

// Revocation names whose access changed: the clients it matches re-check
// theirs. Every field set must match; the zero value matches every client.
type Revocation struct {
	Tenant   string `json:"tenant,omitempty"`     // a tenant's id: suspended, or a member removed or demoted in it
	User     string `json:"user,omitempty"`       // a user's id: logged out, removed or demoted
	APIKeyID string `json:"api_key_id,omitempty"` // an API key's id (never the key): revoked
}

// matches reports whether r concerns a client of tenant, user and key.
func (r Revocation) matches(tenant, user, key string) bool {
	return (r.Tenant == "" || r.Tenant == tenant) && (r.User == "" || r.User == user) && (r.APIKeyID == "" || r.APIKeyID == key)
}

// Revoke tells every instance to re-check the clients r matches. Call it
// after the change committed. It logs its own errors: the periodic
// re-check still bounds what a lost message leaves open.
func (p *Publisher) Revoke(ctx context.Context, r Revocation) {
	payload, err := json.Marshal(r)
	if err == nil {
		err = p.ps.Publish(ctx, broker.Topic{Tenant: controlScope, Name: controlTopic}, payload)
	}
	if err != nil {
		p.logger.WarnContext(ctx, "revocation not published: clients are re-checked periodically", slog.Any("error", err))
	}
}

var _ postgres.AccessWatcher = (*Publisher)(nil)

// AccessChanged revokes what c names: the control plane calls it once the
// change committed, whatever made it (a request, a command, a job).
func (p *Publisher) AccessChanged(ctx context.Context, c postgres.AccessChange) {
	p.Revoke(ctx, Revocation(c))
}

package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// Conn is a connection to the broker's NATS servers, shared by the job
// queue (JetStream) and pub/sub (core NATS subjects). The client reconnects
// forever: opening succeeds while NATS is down, and the readiness check
// reports it.
type Conn struct {
	conn      *nats.Conn
	namespace string
}

var _ PubSub = (*Conn)(nil)

// Open connects to the NATS URL of opts.Config, a comma-separated list of
// nats://, tls://, ws:// or wss:// server URLs.
func Open(opts Options) (*Conn, error) {
	conn, err := nats.Connect(opts.Config.URL,
		nats.Name(opts.ClientName),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
	)
	if err != nil {
		// The error may quote the URL, credentials included: keep it out.
		return nil, errors.New("nats: NATS_URL is not a valid list of NATS server URLs")
	}
	return &Conn{conn: conn, namespace: opts.Config.Namespace}, nil
}

// Checks returns the readiness check of the NATS servers.
func (c *Conn) Checks() []Check {
	return []Check{{Name: "nats", Ping: c.Ping}}
}

// pingTimeout bounds Ping when ctx has no deadline (the client requires one).
const pingTimeout = 5 * time.Second

// Ping checks that the client is connected and a server answers a round trip.
func (c *Conn) Ping(ctx context.Context) error {
	if status := c.conn.Status(); status != nats.CONNECTED {
		return fmt.Errorf("nats: connection is %s", status)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, pingTimeout)
		defer cancel()
	}
	if err := c.conn.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("nats: flush: %w", err)
	}
	return nil
}

// NATS returns the underlying connection, which the job queue (JetStream)
// shares.
func (c *Conn) NATS() *nats.Conn {
	return c.conn
}

// Close closes the connection.
func (c *Conn) Close() error {
	c.conn.Close()
	return nil
}

// subject names the topic's subject, inside the jobs' namespace so that
// deployments sharing the server stay apart.
func (c *Conn) subject(t Topic) (string, error) {
	if err := t.check(); err != nil {
		return "", err
	}
	return c.namespace + ".pubsub." + t.Tenant + "." + t.Name, nil
}

// Publish sends payload to the topic's subscribers on a core NATS subject.
func (c *Conn) Publish(_ context.Context, topic Topic, payload []byte) error {
	subj, err := c.subject(topic)
	if err != nil {
		return err
	}
	if err := c.conn.Publish(subj, payload); err != nil {
		return fmt.Errorf("nats: publish: %w", err)
	}
	return nil
}

// Subscribe listens on the topic's subject until ctx ends.
func (c *Conn) Subscribe(ctx context.Context, topic Topic) (<-chan []byte, error) {
	subj, err := c.subject(topic)
	if err != nil {
		return nil, err
	}
	msgs := make(chan *nats.Msg, 64)
	sub, err := c.conn.ChanSubscribe(subj, msgs)
	if err != nil {
		return nil, fmt.Errorf("nats: subscribe: %w", err)
	}
	// The round trip makes the server know the subscription before
	// Subscribe returns.
	if err := c.Ping(ctx); err != nil {
		_ = sub.Unsubscribe()
		return nil, err
	}
	out := make(chan []byte)
	go func() {
		defer close(out)
		defer func() { _ = sub.Unsubscribe() }()
		for {
			select {
			case <-ctx.Done():
				return
			case m := <-msgs:
				select {
				case out <- m.Data:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

// Package broker connects to the server behind the background-job broker,
// NATS with JetStream. The client reconnects forever: opening succeeds while
// NATS is down, and Ping (the readiness check) reports it.
package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// NATS is a connection to the broker's NATS servers.
type NATS struct {
	conn *nats.Conn
}

// OpenNATS connects to natsURL, a comma-separated list of nats://, tls://,
// ws:// or wss:// server URLs.
func OpenNATS(natsURL, clientName string) (*NATS, error) {
	conn, err := nats.Connect(natsURL,
		nats.Name(clientName),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
	)
	if err != nil {
		// The error may quote the URL, credentials included: keep it out.
		return nil, errors.New("nats: NATS_URL is not a valid list of NATS server URLs")
	}
	return &NATS{conn: conn}, nil
}

// pingTimeout bounds Ping when ctx has no deadline (the client requires one).
const pingTimeout = 5 * time.Second

// Ping checks that the client is connected and a server answers a round trip.
func (n *NATS) Ping(ctx context.Context) error {
	if status := n.conn.Status(); status != nats.CONNECTED {
		return fmt.Errorf("nats: connection is %s", status)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, pingTimeout)
		defer cancel()
	}
	if err := n.conn.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("nats: flush: %w", err)
	}
	return nil
}

// Conn returns the underlying connection, which the job queue (JetStream) shares.
func (n *NATS) Conn() *nats.Conn {
	return n.conn
}

// Close closes the connection.
func (n *NATS) Close() error {
	n.conn.Close()
	return nil
}

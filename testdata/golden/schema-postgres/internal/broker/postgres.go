package broker

import (
	"cmp"
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Conn is the broker's side of the application's database: River queues
// jobs on the pool itself, so Conn only carries pub/sub, over Postgres'
// LISTEN/NOTIFY.
type Conn struct {
	pool    *pgxpool.Pool
	session *pgxpool.Pool // Options.SessionPool, or pool
}

var _ PubSub = (*Conn)(nil)

// Open returns the broker over opts.Pool; it opens nothing of its own.
func Open(opts Options) (*Conn, error) {
	if opts.Pool == nil {
		return nil, errors.New("broker: Options.Pool is required")
	}
	return &Conn{pool: opts.Pool, session: cmp.Or(opts.SessionPool, opts.Pool)}, nil
}

// Checks returns no check: the database's own readiness check covers the
// broker.
func (c *Conn) Checks() []Check { return nil }

// Close does nothing: the pool belongs to the application.
func (c *Conn) Close() error { return nil }

// channel names the topic's notification channel.
func channel(t Topic) (string, error) {
	if err := t.check(); err != nil {
		return "", err
	}
	return t.Tenant + ":" + t.Name, nil
}

// Publish notifies the topic's listeners. Inside a transaction Postgres
// would hold the notification until commit; here it goes out at once.
// Postgres caps a payload at 8000 bytes.
func (c *Conn) Publish(ctx context.Context, topic Topic, payload []byte) error {
	ch, err := channel(topic)
	if err != nil {
		return err
	}
	if _, err := c.pool.Exec(ctx, "SELECT pg_notify($1, $2)", ch, string(payload)); err != nil {
		return fmt.Errorf("broker: notify %s: %w", ch, err)
	}
	return nil
}

// Subscribe listens on the topic's channel over a connection of its own
// (a pooled one would go back to the pool still listening), closed when
// ctx ends.
func (c *Conn) Subscribe(ctx context.Context, topic Topic) (<-chan []byte, error) {
	ch, err := channel(topic)
	if err != nil {
		return nil, err
	}
	conn, err := pgx.ConnectConfig(ctx, c.session.Config().ConnConfig.Copy())
	if err != nil {
		return nil, fmt.Errorf("broker: connect to listen: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
		_ = conn.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("broker: listen %s: %w", ch, err)
	}
	out := make(chan []byte)
	go func() {
		defer close(out)
		defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
		for {
			n, err := conn.WaitForNotification(ctx)
			if err != nil {
				return // ctx ended or the connection broke: the channel closes
			}
			select {
			case out <- []byte(n.Payload):
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

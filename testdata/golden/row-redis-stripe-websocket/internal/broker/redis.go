package broker

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// Conn is a connection to the broker's Redis server, shared by the job
// queue (asynq) and pub/sub. The connection is lazy: opening succeeds while
// Redis is down, and the readiness check reports it.
type Conn struct {
	client    *redis.Client
	namespace string
}

var _ PubSub = (*Conn)(nil)

// Open returns a client for the Redis URL of opts.Config (redis://,
// rediss:// or unix://).
func Open(opts Options) (*Conn, error) {
	ropts, err := redis.ParseURL(opts.Config.URL)
	if err != nil {
		// The parse error may quote the URL, password included: keep it out.
		return nil, errors.New("redis: REDIS_URL is not a valid Redis URL")
	}
	ropts.ClientName = opts.ClientName
	return &Conn{client: redis.NewClient(ropts), namespace: opts.Config.Namespace}, nil
}

// Checks returns the readiness check of the Redis server.
func (c *Conn) Checks() []Check {
	return []Check{{Name: "redis", Ping: c.Ping}}
}

// Ping checks that the Redis server answers.
func (c *Conn) Ping(ctx context.Context) error {
	if err := c.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: ping: %w", err)
	}
	return nil
}

// Client returns the underlying client, which the job queue (asynq) shares.
func (c *Conn) Client() *redis.Client {
	return c.client
}

// Close closes the client's connections.
func (c *Conn) Close() error {
	return c.client.Close()
}

// channel names the topic's Redis channel, inside the jobs' namespace so
// that deployments sharing the server stay apart.
func (c *Conn) channel(t Topic) (string, error) {
	if err := t.check(); err != nil {
		return "", err
	}
	return c.namespace + ":pubsub:" + t.Tenant + ":" + t.Name, nil
}

// Publish sends payload to the topic's subscribers (PUBLISH).
func (c *Conn) Publish(ctx context.Context, topic Topic, payload []byte) error {
	ch, err := c.channel(topic)
	if err != nil {
		return err
	}
	if err := c.client.Publish(ctx, ch, payload).Err(); err != nil {
		return fmt.Errorf("redis: publish: %w", err)
	}
	return nil
}

// Subscribe listens on the topic's channel (SUBSCRIBE) on a connection of
// its own, closed when ctx ends.
func (c *Conn) Subscribe(ctx context.Context, topic Topic) (<-chan []byte, error) {
	ch, err := c.channel(topic)
	if err != nil {
		return nil, err
	}
	sub := c.client.Subscribe(ctx, ch)
	// The confirmation: once it arrives, the server delivers what follows.
	if _, err := sub.Receive(ctx); err != nil {
		_ = sub.Close()
		return nil, fmt.Errorf("redis: subscribe: %w", err)
	}
	msgs := sub.Channel()
	out := make(chan []byte)
	go func() {
		defer close(out)
		defer func() { _ = sub.Close() }()
		for {
			select {
			case <-ctx.Done():
				return
			case m, ok := <-msgs:
				if !ok {
					return
				}
				select {
				case out <- []byte(m.Payload):
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

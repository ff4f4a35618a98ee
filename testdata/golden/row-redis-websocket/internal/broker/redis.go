// Package broker connects to the server behind the background-job broker,
// Redis. The connection is lazy: opening succeeds while Redis is down, and
// Ping (the readiness check) reports it.
package broker

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// Redis is a connection to the broker's Redis server.
type Redis struct {
	client *redis.Client
}

// OpenRedis returns a client for redisURL (redis://, rediss:// or unix://).
func OpenRedis(redisURL, clientName string) (*Redis, error) {
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		// The parse error may quote the URL, password included: keep it out.
		return nil, errors.New("redis: REDIS_URL is not a valid Redis URL")
	}
	opts.ClientName = clientName
	return &Redis{client: redis.NewClient(opts)}, nil
}

// Ping checks that the Redis server answers.
func (r *Redis) Ping(ctx context.Context) error {
	if err := r.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: ping: %w", err)
	}
	return nil
}

// Client returns the underlying client, which the job queue (asynq) shares.
func (r *Redis) Client() *redis.Client {
	return r.client
}

// Close closes the client's connections.
func (r *Redis) Close() error {
	return r.client.Close()
}

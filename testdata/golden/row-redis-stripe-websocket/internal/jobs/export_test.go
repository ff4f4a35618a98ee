package jobs

import (
	"context"
	"time"
)

// SetAfterPublish makes the relay call f between publishing a batch and
// deleting it from the outbox, where the crash tests kill it.
func SetAfterPublish(c *Client, f func()) { c.afterPublish = f }

// Relay runs the client's outbox relay until ctx is done.
func Relay(ctx context.Context, c *Client, interval time.Duration) error {
	return c.relay(ctx, interval)
}

package jobs

// SetAfterPublish makes the relay call f between publishing a batch and
// deleting it from the outbox, where the crash tests kill it.
func SetAfterPublish(c *Client, f func()) { c.afterPublish = f }

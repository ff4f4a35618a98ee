package postgres

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"example.com/acme/internal/domain"
)

// clock is a time the test moves by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }
func (c *clock) cache(ttl, listening time.Duration) *tenantCache {
	return newTenantCache(ttl, listening, c.now)
}

// put caches slug's tenant as read now.
func put(c *tenantCache, slug string) {
	c.put(domain.Tenant{Slug: slug}, c.begin())
}

// Nobody listening, an entry lives the resolve TTL and is due in its last
// quarter.
func TestTenantCacheWithoutListener(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Unix(1_000_000, 0)}
	c := clk.cache(8*time.Second, time.Minute)
	put(c, "acme")

	clk.advance(5 * time.Second)
	_, due, ok := c.lookup("acme")
	require.True(t, ok)
	require.False(t, due)
	clk.advance(2 * time.Second) // 7 s: the last quarter
	_, due, ok = c.lookup("acme")
	require.True(t, ok)
	require.True(t, due)
	_, due, ok = c.lookup("acme")
	require.True(t, ok)
	require.False(t, due, "one refresh at a time")
	clk.advance(time.Second) // 8 s
	_, ok = c.get("acme")
	require.False(t, ok, "expired at the resolve TTL")
}

// While the listener keeps proving it hears, an entry lives the listening
// TTL; once it stops, every entry older than the resolve TTL goes at once
// and a younger one lives to the resolve TTL.
func TestTenantCacheWhileTheListenerHears(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Unix(1_000_000, 0)}
	c := clk.cache(8*time.Second, time.Minute)
	c.heard()
	put(c, "acme")
	for range 5 { // 40 s, heard every 2 s
		for range 4 {
			clk.advance(2 * time.Second)
			c.heard()
		}
		_, due, ok := c.lookup("acme")
		require.True(t, ok, "past the resolve TTL, vouched for")
		require.False(t, due)
	}
	clk.advance(6 * time.Second) // 46 s: the last quarter of the minute
	_, due, ok := c.lookup("acme")
	require.True(t, ok)
	require.True(t, due)
	c.refreshed("acme")
	c.heard()
	clk.advance(time.Second)
	put(c, "globex") // at 47 s

	// Silent since 46 s: still vouched for until the resolve TTL has
	// passed since it last proved it hears.
	clk.advance(6 * time.Second) // 53 s
	_, ok = c.get("acme")
	require.True(t, ok)
	clk.advance(time.Second) // 54 s
	_, ok = c.get("acme")
	require.False(t, ok, "older than the resolve TTL, and nobody vouches for it")
	_, due, ok = c.lookup("globex")
	require.True(t, ok, "read 7 s ago")
	require.True(t, due, "now in the last quarter of the resolve TTL")
	clk.advance(time.Millisecond)
	_, ok = c.get("globex")
	require.True(t, ok)
	clk.advance(8 * time.Second)
	_, ok = c.get("globex")
	require.False(t, ok)

	// Heard again (a reconnection clears the cache first; this is a
	// heartbeat that came late), entries live the listening TTL again.
	put(c, "initech")
	clk.advance(9 * time.Second)
	_, ok = c.get("initech")
	require.False(t, ok)
	put(c, "initech")
	c.heard()
	clk.advance(9 * time.Second)
	c.heard()
	_, ok = c.get("initech")
	require.True(t, ok)

	c.deaf()
	_, ok = c.get("initech")
	require.False(t, ok, "not listening: the resolve TTL")
}

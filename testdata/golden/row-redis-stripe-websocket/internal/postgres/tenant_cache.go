package postgres

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/acme/shop-api/internal/domain"
)

// maxCachedTenants bounds the resolution cache. Only tenants that exist are
// cached, so it holds at most one entry per tenant; the bound is a safety
// net, not a tuning knob.
const maxCachedTenants = 100_000

// tenantCache remembers resolved tenants by slug.
//
// How long an entry is served depends on the change listener
// (tenant_watch.go). While it proves that it hears every change (its
// notifications, its own heartbeat probes among them, keep coming), a
// change reaches the cache by notification within moments, and an entry
// lives listeningTTL: the backstop for a change that sends none (the
// trigger disabled, a restore with session_replication_role = replica).
// When it has not proved so for ttl (down, reconnecting, cut off without
// a word, or behind a pooler that cannot carry LISTEN), an entry older
// than ttl is no longer served: a change nobody heard is seen within ttl
// of the last moment anyone could have heard it.
//
// A lookup races with invalidation: a resolver may read a tenant from the
// database, then a change lands and is invalidated, then the resolver puts
// what it read, now stale. So a resolver takes the cache's generation before
// it reads and puts with it; every invalidation moves the generation on, and
// a put from an older generation is dropped.
//
// A tenant looked up in the last quarter of its lifetime is due: the
// lookup still answers from the cache, and the caller reads it again in
// the background (Tenants.lookup), so a tenant in use never expires in
// front of a request.
type tenantCache struct {
	mu           sync.Mutex // orders puts and invalidations by generation; guards refreshing
	generation   uint64
	tenants      *expiring[string, cachedTenant] // dropped listeningTTL after their read, the longest an entry is served
	ttl          time.Duration
	listeningTTL time.Duration // at least ttl
	now          func() time.Time
	refreshing   map[string]bool // slugs being read again in the background
	// heardAt is when the listener last proved it hears every change, in
	// Unix nanoseconds; 0 while it is not listening.
	heardAt atomic.Int64
}

// cachedTenant is a tenant as read, and when.
type cachedTenant struct {
	tenant domain.Tenant
	readAt time.Time
}

func newTenantCache(ttl, listeningTTL time.Duration, now func() time.Time) *tenantCache {
	listeningTTL = max(listeningTTL, ttl)
	return &tenantCache{
		tenants: newExpiring[string, cachedTenant](listeningTTL, maxCachedTenants, now),
		ttl:     ttl, listeningTTL: listeningTTL, now: now, refreshing: map[string]bool{},
	}
}

// heard records that the listener hears every change as of now.
func (c *tenantCache) heard() {
	c.heardAt.Store(c.now().UnixNano())
}

// deaf records that the listener stopped listening.
func (c *tenantCache) deaf() {
	c.heardAt.Store(0)
}

// lifetime is how long an entry is served as of now: listeningTTL while
// the listener has proved within ttl that it hears every change, ttl
// otherwise.
func (c *tenantCache) lifetime(now time.Time) time.Duration {
	if at := c.heardAt.Load(); at != 0 && now.Sub(time.Unix(0, at)) < c.ttl {
		return c.listeningTTL
	}
	return c.ttl
}

// entry is slug's tenant if it is still served, and whether it is in
// the last quarter of its lifetime.
func (c *tenantCache) entry(slug string) (t domain.Tenant, due, ok bool) {
	e, ok := c.tenants.get(slug)
	if !ok {
		return domain.Tenant{}, false, false
	}
	now := c.now()
	life := c.lifetime(now)
	age := now.Sub(e.readAt)
	if age >= life {
		return domain.Tenant{}, false, false
	}
	return e.tenant, age >= life-life/4, true
}

// get is slug's tenant if it is still served, without starting a refresh.
func (c *tenantCache) get(slug string) (domain.Tenant, bool) {
	t, _, ok := c.entry(slug)
	return t, ok
}

// lookup is get, and says whether slug is due a refresh that nobody has
// started: the caller who gets true starts it and calls refreshed when it
// is done.
func (c *tenantCache) lookup(slug string) (t domain.Tenant, due, ok bool) {
	t, due, ok = c.entry(slug)
	if !due {
		return t, false, ok
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.refreshing[slug] {
		return t, false, true
	}
	c.refreshing[slug] = true
	return t, true, true
}

// refreshed ends the refresh of slug that lookup handed out.
func (c *tenantCache) refreshed(slug string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.refreshing, slug)
}

// begin returns the generation to pass to put for a tenant about to be read.
func (c *tenantCache) begin() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.generation
}

// put caches t, read in generation gen, unless an invalidation came since.
func (c *tenantCache) put(t domain.Tenant, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen == c.generation {
		c.tenants.put(t.Slug, cachedTenant{tenant: t, readAt: c.now()})
	}
}

// invalidate forgets slug: the tenant changed (see tenant_watch.go).
func (c *tenantCache) invalidate(slug string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.generation++
	c.tenants.forget(slug)
}

// clear forgets every tenant: changes may have been missed.
func (c *tenantCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.generation++
	c.tenants.forgetAll()
}

package postgres

import (
	"sync"
	"time"

	"github.com/acme/shop-api/internal/domain"
)

// maxCachedTenants bounds the resolution cache. Only tenants that exist are
// cached, so it holds at most one entry per tenant; the bound is a safety
// net, not a tuning knob.
const maxCachedTenants = 100_000

// tenantCache remembers resolved tenants by slug for a short TTL.
//
// A lookup races with invalidation: a resolver may read a tenant from the
// database, then a change lands and is invalidated, then the resolver puts
// what it read, now stale. So a resolver takes the cache's generation before
// it reads and puts with it; every invalidation moves the generation on, and
// a put from an older generation is dropped.
//
// A tenant looked up in the last quarter of its TTL is due: the lookup
// still answers from the cache, and the caller reads it again in the
// background (Tenants.lookup), so a tenant in use never expires in front
// of a request and none is served older than the TTL.
type tenantCache struct {
	mu         sync.Mutex // orders puts and invalidations by generation; guards refreshing
	generation uint64
	tenants    *expiring[string, domain.Tenant]
	ttl        time.Duration
	now        func() time.Time
	refreshing map[string]bool // slugs being read again in the background
}

func newTenantCache(ttl time.Duration, now func() time.Time) *tenantCache {
	return &tenantCache{
		tenants: newExpiring[string, domain.Tenant](ttl, maxCachedTenants, now),
		ttl:     ttl, now: now, refreshing: map[string]bool{},
	}
}

// get is slug's tenant if cached, without starting a refresh.
func (c *tenantCache) get(slug string) (domain.Tenant, bool) {
	return c.tenants.get(slug)
}

// lookup is get, and says whether slug is due a refresh that nobody has
// started: the caller who gets true starts it and calls refreshed when it
// is done.
func (c *tenantCache) lookup(slug string) (t domain.Tenant, due, ok bool) {
	t, expires, ok := c.tenants.getExpiring(slug)
	if !ok || c.now().Before(expires.Add(-c.ttl/4)) {
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
		c.tenants.put(t.Slug, t)
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

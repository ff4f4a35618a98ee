package postgres

import (
	"sync"
	"time"

	"github.com/acme/shop/internal/domain"
)

// maxCachedTenants bounds the resolution cache. Only tenants that exist are
// cached, so it holds at most one entry per tenant; the bound is a safety
// net, not a tuning knob.
const maxCachedTenants = 100_000

// tenantCache remembers resolved tenants by slug for a short TTL.
type tenantCache struct {
	mu      sync.Mutex
	ttl     time.Duration
	now     func() time.Time
	entries map[string]cachedTenant
}

type cachedTenant struct {
	tenant  domain.Tenant
	expires time.Time
}

func newTenantCache(ttl time.Duration, now func() time.Time) *tenantCache {
	return &tenantCache{ttl: ttl, now: now, entries: map[string]cachedTenant{}}
}

func (c *tenantCache) get(slug string) (domain.Tenant, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[slug]
	if !ok {
		return domain.Tenant{}, false
	}
	if !c.now().Before(e.expires) {
		delete(c.entries, slug)
		return domain.Tenant{}, false
	}
	return e.tenant, true
}

func (c *tenantCache) put(t domain.Tenant) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if len(c.entries) >= maxCachedTenants {
		for slug, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, slug)
			}
		}
		if len(c.entries) >= maxCachedTenants {
			clear(c.entries)
		}
	}
	c.entries[t.Slug] = cachedTenant{tenant: t, expires: now.Add(c.ttl)}
}

// invalidate forgets slug; every change to a tenant calls it.
func (c *tenantCache) invalidate(slug string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, slug)
}

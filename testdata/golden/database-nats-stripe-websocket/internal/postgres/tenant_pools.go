package postgres

import (
	"context"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"
)

// poolCache keeps a connection pool per tenant database for at most
// capacity databases, closing the least recently used pool beyond that, so
// touching a thousand tenants never holds a thousand pools. A pool still in
// use when it is evicted is closed when its last user releases it, never
// under a running transaction; pools in use are thus the only ones that can
// exceed the capacity, and each of those serves a request right now.
type poolCache struct {
	capacity int
	open     func(ctx context.Context, database string) (*pgxpool.Pool, error)

	mu     sync.Mutex
	byName map[string]*tenantPool
	lru    tenantPool // sentinel of a ring: lru.next is the most recently used
	live   int        // pools opened and not yet closed, evicted ones included
}

// tenantPool is one cached pool, how many callers hold it, and its place in
// the recency ring.
type tenantPool struct {
	database   string
	pool       *pgxpool.Pool
	users      int
	evicted    bool
	prev, next *tenantPool
}

func newPoolCache(capacity int, open func(context.Context, string) (*pgxpool.Pool, error)) *poolCache {
	c := &poolCache{capacity: max(capacity, 1), open: open, byName: map[string]*tenantPool{}}
	c.lru.prev, c.lru.next = &c.lru, &c.lru
	return c
}

// acquire returns the pool of database, opening it if needed (pgxpool
// connects lazily, so that is cheap). Pair it with release.
func (c *poolCache) acquire(ctx context.Context, database string) (*tenantPool, error) {
	c.mu.Lock()
	if tp, ok := c.byName[database]; ok {
		c.unlink(tp)
		c.pushFront(tp)
		tp.users++
		c.mu.Unlock()
		return tp, nil
	}
	pool, err := c.open(ctx, database)
	if err != nil {
		c.mu.Unlock()
		return nil, err
	}
	tp := &tenantPool{database: database, pool: pool, users: 1}
	c.byName[database] = tp
	c.pushFront(tp)
	c.live++
	var unused []*tenantPool
	for len(c.byName) > c.capacity {
		if old := c.evictLocked(c.lru.prev); old != nil {
			unused = append(unused, old)
		}
	}
	c.mu.Unlock()
	c.close(unused...)
	return tp, nil
}

// release gives back a pool from acquire, closing it if it was evicted and
// this was its last user.
func (c *poolCache) release(tp *tenantPool) {
	c.mu.Lock()
	tp.users--
	last := tp.evicted && tp.users == 0
	c.mu.Unlock()
	if last {
		c.close(tp)
	}
}

// remove evicts database's pool, if any (its database is being dropped).
func (c *poolCache) remove(database string) {
	c.mu.Lock()
	var unused *tenantPool
	if tp, ok := c.byName[database]; ok {
		unused = c.evictLocked(tp)
	}
	c.mu.Unlock()
	if unused != nil {
		c.close(unused)
	}
}

// closeAll evicts every pool; pools in use close when released.
func (c *poolCache) closeAll() {
	c.mu.Lock()
	var unused []*tenantPool
	for len(c.byName) > 0 {
		if old := c.evictLocked(c.lru.prev); old != nil {
			unused = append(unused, old)
		}
	}
	c.mu.Unlock()
	c.close(unused...)
}

// openPools reports how many pools are open: cached ones and evicted ones
// still in use.
func (c *poolCache) openPools() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.live
}

// evictLocked drops tp from the cache and returns it if nobody uses it (the
// caller closes it after unlocking), nil otherwise.
func (c *poolCache) evictLocked(tp *tenantPool) *tenantPool {
	c.unlink(tp)
	delete(c.byName, tp.database)
	tp.evicted = true
	if tp.users > 0 {
		return nil
	}
	return tp
}

func (c *poolCache) pushFront(tp *tenantPool) {
	tp.prev, tp.next = &c.lru, c.lru.next
	c.lru.next.prev = tp
	c.lru.next = tp
}

func (c *poolCache) unlink(tp *tenantPool) {
	tp.prev.next, tp.next.prev = tp.next, tp.prev
	tp.prev, tp.next = nil, nil
}

// close closes pools outside the lock: Close waits for their connections
// to shut down.
func (c *poolCache) close(pools ...*tenantPool) {
	for _, tp := range pools {
		tp.pool.Close()
	}
	c.mu.Lock()
	c.live -= len(pools)
	c.mu.Unlock()
}

package postgres

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"ledger.internal/svc/internal/domain"
)

// OpenPools exposes how many tenant pools are open to the tests.
func OpenPools(ts *Tenants) int {
	return ts.storage.pools.openPools()
}

// TenantConnCaches connects to t's database on its pool and returns the
// capacities of the connection's statement and description caches.
func TenantConnCaches(ctx context.Context, ts *Tenants, t domain.Tenant) (statements, descriptions int, err error) {
	err = ts.storage.onPool(ctx, t, func(pool *pgxpool.Pool) error {
		c := pool.Config().ConnConfig
		statements, descriptions = c.StatementCacheCapacity, c.DescriptionCacheCapacity
		return pool.Ping(ctx)
	})
	return statements, descriptions, err
}

// lazyPools returns a pool cache whose pools point nowhere: pgxpool connects
// lazily, so they are real pools that never dial. opened records the
// databases opened, in order.
func lazyPools(t *testing.T, capacity int) (cache *poolCache, opened *[]string) {
	t.Helper()
	var mu sync.Mutex
	names := []string{}
	cache = newPoolCache(capacity, func(ctx context.Context, database string) (*pgxpool.Pool, error) {
		mu.Lock()
		names = append(names, database)
		mu.Unlock()
		return pgxpool.New(ctx, "postgres://nobody@127.0.0.1:1/"+database)
	})
	t.Cleanup(cache.closeAll)
	return cache, &names
}

func TestPoolCacheEvictsTheLeastRecentlyUsed(t *testing.T) {
	t.Parallel()
	cache, opened := lazyPools(t, 2)
	use := func(name string) {
		tp, err := cache.acquire(t.Context(), name)
		require.NoError(t, err)
		cache.release(tp)
	}

	use("a")
	use("b")
	use("a") // a is now the most recent
	use("c") // evicts b
	require.Equal(t, 2, cache.openPools())
	use("a") // still cached
	use("b") // reopened, evicts c
	require.Equal(t, []string{"a", "b", "c", "b"}, *opened)
	require.Equal(t, 2, cache.openPools())
}

func TestPoolCacheClosesEvictedPoolsAfterTheirLastUser(t *testing.T) {
	t.Parallel()
	cache, _ := lazyPools(t, 1)

	a1, err := cache.acquire(t.Context(), "a")
	require.NoError(t, err)
	a2, err := cache.acquire(t.Context(), "a")
	require.NoError(t, err)
	b, err := cache.acquire(t.Context(), "b") // evicts a, still in use twice
	require.NoError(t, err)
	cache.release(b)
	require.Equal(t, 2, cache.openPools())

	cache.release(a1)
	require.Equal(t, 2, cache.openPools(), "a still has a user")
	cache.release(a2)
	require.Equal(t, 1, cache.openPools(), "a closed with its last user")
}

func TestPoolCacheRemove(t *testing.T) {
	t.Parallel()
	cache, _ := lazyPools(t, 4)

	tp, err := cache.acquire(t.Context(), "a")
	require.NoError(t, err)
	cache.release(tp)
	cache.remove("a")
	cache.remove("never-opened")
	require.Zero(t, cache.openPools())
}

func TestPoolCacheUnderConcurrency(t *testing.T) {
	t.Parallel()
	cache, _ := lazyPools(t, 3)

	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				tp, err := cache.acquire(t.Context(), fmt.Sprintf("db-%d", (g+i)%7))
				if err != nil {
					t.Error(err)
					return
				}
				cache.release(tp)
			}
		})
	}
	wg.Wait()
	require.LessOrEqual(t, cache.openPools(), 3, "every pool released: only the cached ones stay open")
}

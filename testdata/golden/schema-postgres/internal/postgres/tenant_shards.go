package postgres

import (
	"context"
	"fmt"
	"hash/fnv"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/acme/internal/domain"
)

// Tenants pinned to shards. A connection keeps the statements of the
// tenants it serves prepared (tenant_statements.go), but when any
// connection serves any tenant and thousands are in use, each connection
// sees all of them and most reads run unprepared: parsed and planned on
// every run, about a third of Postgres's time at 10,000 tenants (the kit's
// bench/RESULTS.md). So tenants' transactions and reads run on
// TENANT_SHARDS small pools of one connection each, and each tenant on
// two of them, chosen by a hash of its id: the one with fewer requests on
// it at the time. A shard's connection then serves a share of the tenants
// and keeps their statements prepared (up to maxShardStatements), and its
// backend holds the catalog of those tenants' schemas only.
//
// Two shards, not one, because one busy shard would hold up all of its
// tenants while another idles: a tenant's requests queue behind its
// shard's, and the slowest of them (p99) doubled when each tenant had one
// shard. With two to choose from, the queues stay even (the "power of
// two choices") and each connection serves about twice a shard's share of
// the tenants.
//
// Jobs enter tenants the same way as requests. Pinning pays only while
// statements are prepared: when DATABASE_URL chooses pgx's query mode
// (behind PgBouncer), or TENANT_SHARDS is 0, every tenant uses the shared
// pool, DATABASE_URL's. A process opens at most TENANT_SHARDS connections
// for the shards, beside that pool's pool_max_conns, which the control
// plane uses.

// maxShardStatements is how many tenant statements a shard's connection
// keeps prepared (~20 KB of backend memory each): with the default four
// shards, each tenant's reads on two of them, 10,000 tenants'.
const maxShardStatements = 5000

// tenantShards are a process's shard pools.
type tenantShards struct {
	pools []*pgxpool.Pool
	// waiting counts, per shard, the requests acquiring its connection.
	waiting []atomic.Int32
}

// newTenantShards makes n shard pools of one connection each, configured
// as shared is; a shard's connection keeps up to maxStatements tenant
// statements (see tenantStatementsOf). They connect when first used.
func newTenantShards(ctx context.Context, shared *pgxpool.Pool, n int, maxStatements func() int) (*tenantShards, error) {
	sh := &tenantShards{waiting: make([]atomic.Int32, n)}
	for i := range n {
		cfg := shared.Config()
		cfg.MaxConns, cfg.MinConns, cfg.MinIdleConns = 1, 0, 0
		cfg.ConnConfig.RuntimeParams["application_name"] = fmt.Sprintf("%s-shard%d", cfg.ConnConfig.RuntimeParams["application_name"], i)
		connected := cfg.AfterConnect
		cfg.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
			if connected != nil {
				if err := connected(ctx, conn); err != nil {
					return err
				}
			}
			tenantStatementsOf(conn, maxStatements())
			return nil
		}
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			sh.close()
			return nil, fmt.Errorf("postgres: tenant shard pool: %w", err)
		}
		sh.pools = append(sh.pools, pool)
	}
	return sh, nil
}

// shardsOf are the two shards, of n, of the tenant with id: from FNV-1a of
// the id, first and second choice, the same when n is 1.
func shardsOf(id string, n int) (first, second int) {
	h := fnv.New64a()
	_, _ = h.Write([]byte(id))
	sum, m := h.Sum64(), uint64(n) //nolint:gosec // G115: n is a small positive count
	first = int(sum % m)           //nolint:gosec // G115: below n
	if n == 1 {
		return first, first
	}
	second = int((sum / m) % (m - 1)) //nolint:gosec // G115: below n
	if second >= first {
		second++
	}
	return first, second
}

// of is where tenant t's next transaction or read gets its connection:
// the first of its shards unless the second has fewer requests on it.
func (sh *tenantShards) of(t domain.Tenant) shardConn {
	first, second := shardsOf(t.ID, len(sh.pools))
	if second != first && sh.load(second) < sh.load(first) {
		first = second
	}
	return shardConn{sh: sh, shard: first}
}

// load is how many requests hold or wait for shard i's connection.
func (sh *tenantShards) load(i int) int32 {
	return sh.waiting[i].Load() + sh.pools[i].Stat().AcquiredConns()
}

func (sh *tenantShards) close() {
	for _, p := range sh.pools {
		p.Close()
	}
}

// shardConn acquires the connection of one shard.
type shardConn struct {
	sh    *tenantShards
	shard int
}

func (c shardConn) Acquire(ctx context.Context) (*pgxpool.Conn, error) {
	waiting := &c.sh.waiting[c.shard]
	waiting.Add(1)
	defer waiting.Add(-1)
	return c.sh.pools[c.shard].Acquire(ctx)
}

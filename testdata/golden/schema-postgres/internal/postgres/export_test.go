package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/acme/internal/domain"
)

// Seal is the value of app.tenant_seal that enters t for a transaction
// beginning before now plus the seal's lifetime.
func Seal(ts *Tenants, t domain.Tenant, now time.Time) string {
	return ts.storage.seal(t, now)
}

// SealWithKey is the seal a process whose SECRET_KEY is secret would make.
func SealWithKey(secret string, t domain.Tenant, now time.Time) string {
	s := tenantStorage{sealKey: sealKeyFrom(secret)}
	return s.seal(t, now)
}

// InstallSealKey gives the database the seal key of SECRET_KEY secret, as
// migrate run with it would, on conn (the owner's).
func InstallSealKey(ctx context.Context, conn *pgx.Conn, secret string) error {
	return installSeal(ctx, conn, sealKeyFrom(secret))
}

// SealLifetime is how long a seal is good for.
const SealLifetime = sealTTL

// SetMaxTenantStatements sets how many tenant statements each of ts's
// connections keeps prepared; call it before ts reads a tenant.
func SetMaxTenantStatements(ts *Tenants, n int) {
	ts.storage.maxStatements, ts.storage.shardStatements = n, n
}

// TenantShards are the two shards, of n, of the tenant with id: its first
// choice, and its second.
func TenantShards(id string, n int) (first, second int) {
	return shardsOf(id, n)
}

// Shards is how many shards ts pins tenants to.
func Shards(ts *Tenants) int {
	if ts.storage.shards == nil {
		return 0
	}
	return len(ts.storage.shards.pools)
}

// TenantStatementName is the name sql is prepared under for the tenant
// with slug.
func TenantStatementName(slug, sql string) string {
	return statementName(schemaName(slug), sql)
}

// ControlPool exposes the control-plane pool to the tests.
func ControlPool(ts *Tenants) *pgxpool.Pool {
	return ts.pool
}

// Cached reports whether ts has slug's tenant in its resolution cache.
func Cached(ts *Tenants, slug string) bool {
	_, ok := ts.cache.get(slug)
	return ok
}

// CachedName is the name of slug's tenant in ts's resolution cache, ""
// when it is not there. Neither reads the database nor starts a refresh.
func CachedName(ts *Tenants, slug string) string {
	t, _ := ts.cache.get(slug)
	return t.Name
}

// SetWatchHeartbeat shortens how long ts's listener waits for a
// notification before it checks its connection; call it before ts caches
// a tenant.
func SetWatchHeartbeat(ts *Tenants, d time.Duration) {
	ts.watch.heartbeat = d
}

// WatchProbes is how many heartbeat probes ts's listener got answered.
func WatchProbes(ts *Tenants) int64 {
	return ts.watch.probes.Load()
}

// StopListening stops ts's tenant change listener for good, as a listener
// that cannot reconnect: the cache is left as it is.
func StopListening(ts *Tenants) {
	ts.watch.stop()
}

// ListeningPID is the backend pid of ts's listening connection, 0 while
// it is not listening.
func ListeningPID(ts *Tenants) uint32 {
	return ts.watch.pid.Load()
}

// WaitListening waits until ts listens for tenant changes and returns the
// backend pid of its listening connection; not before is a change made
// elsewhere sure to reach ts by notification.
func WaitListening(tb testing.TB, ts *Tenants) uint32 {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if pid := ts.watch.pid.Load(); pid != 0 {
			return pid
		}
		if time.Now().After(deadline) {
			tb.Fatal("the tenant change listener did not start listening within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// SeedAuditLog appends n entries to the empty audit log of tenantID in tx,
// in one COPY, hashed and chained as RecordAudit chains them, and moves
// the chain's head to the last; it returns that head. It is for
// benchmarks of Verify, which need a long chain quickly. tx must be
// allowed to COPY into audit_entries: the tables' owner where row-level
// security confines the application's role.
func SeedAuditLog(ctx context.Context, tx pgx.Tx, tenantID string, n int) (int64, []byte, error) {
	at := time.Now().UTC().Truncate(time.Microsecond).Add(-time.Duration(n) * time.Microsecond)
	prev := genesis
	var seq int64
	rows := pgx.CopyFromFunc(func() ([]any, error) {
		if seq == int64(n) {
			return nil, nil
		}
		seq++
		id := strconv.FormatInt(seq, 10)
		r := AuditRecord{
			Seq: seq, At: at.Add(time.Duration(seq) * time.Microsecond), TenantID: tenantID,
			Action: "thing.update", TargetType: "thing", TargetID: id, UserID: "00000000-0000-0000-0000-000000000001",
			RequestID: "req-" + id, IP: "192.0.2.1", UserAgent: "bench",
			Before: json.RawMessage(`{"n":` + id + `}`), After: json.RawMessage(`{"n":` + id + `,"m":1}`), PrevHash: prev,
		}
		r.Hash = r.hash()
		prev = r.Hash
		return []any{r.Seq, r.At, r.Action, r.TargetType, r.TargetID, r.UserID, r.APIKeyID, r.RequestID, r.IP, r.UserAgent,
			string(r.Before), string(r.After), r.PrevHash, r.Hash}, nil
	})
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{tenantChain.entries}, strings.Split(entryColumns, ", "), rows); err != nil {
		return 0, nil, fmt.Errorf("seed the audit log: %w", err)
	}
	_, err := tx.Exec(ctx, `INSERT INTO audit_chain (seq, hash, pruned_hash) VALUES ($1, $2, $3)
		ON CONFLICT (`+tenantChain.conflict+`) DO UPDATE SET seq = excluded.seq, hash = excluded.hash`, seq, prev, genesis)
	if err != nil {
		return 0, nil, fmt.Errorf("seed the audit chain's head: %w", err)
	}
	return seq, prev, nil
}

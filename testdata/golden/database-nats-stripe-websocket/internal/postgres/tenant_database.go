package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"ledger.internal/svc/internal/config"
	"ledger.internal/svc/internal/domain"
	"ledger.internal/svc/internal/postgres/db"
	"ledger.internal/svc/internal/postgres/tenantdb"
)

// Database per tenant. DATABASE_URL names the control database (tenants,
// and later users and billing); tenant t's tables live in a database of its
// own, TENANT_DATABASE_PREFIX followed by the slug, on the same server and
// reached with the same credentials. A tenant-scoped transaction runs on a
// pool connected to the tenant's database and nothing else, so no setting
// has to be switched and none can leak. Pools are cached, at most
// TENANT_POOL_CACHE of them (least recently used closed first), each with
// at most TENANT_POOL_MAX_CONNS connections.
//
// CREATE DATABASE cannot run in a transaction, so provisioning compensates
// instead: a database it created and could not migrate is dropped again.
// A tenant whose database is missing fails closed: 503, tenant unavailable.

// configureTenantPool leaves the control-plane pool as it is.
func configureTenantPool(*pgxpool.Config) {}

// controlPlaneDB is what the control plane's sqlc queries run on: the pool,
// whose statements pgx prepares once per connection.
func controlPlaneDB(pool *pgxpool.Pool) db.DBTX {
	return pool
}

// tenantStorage keeps each tenant in its own database.
type tenantStorage struct {
	ts      *Tenants
	prefix  string
	control string          // the control database's name, never a tenant's
	base    *pgxpool.Config // DATABASE_URL with the tenant pools' limits
	session *pgx.ConnConfig // DATABASE_SESSION_URL, for migrations (goose's session lock)
	pools   *poolCache
}

func newTenantStorage(_ context.Context, ts *Tenants, cfg config.Database, appName string) (*tenantStorage, error) {
	base, err := parsePoolConfig(cfg.URL, appName)
	if err != nil {
		return nil, err
	}
	base.MaxConns = int32(min(cfg.TenantPoolMaxConns, 1000)) //nolint:gosec // G115: bounded by config
	base.MinConns = 0
	base.MaxConnIdleTime = 30 * time.Second                     // a quiet tenant gives its connections back
	base.ConnConfig.Tracer = ts.pool.Config().ConnConfig.Tracer // TenantsOptions.Tracer
	shrinkStatementCaches(base.ConnConfig)
	session, err := parsePoolConfig(cfg.SessionURL, appName)
	if err != nil {
		return nil, errors.New("postgres: DATABASE_SESSION_URL is not a valid connection string")
	}
	session.ConnConfig.Tracer = base.ConnConfig.Tracer
	s := &tenantStorage{ts: ts, prefix: cfg.TenantDatabasePrefix, control: base.ConnConfig.Database, base: base, session: session.ConnConfig}
	s.pools = newPoolCache(cfg.TenantPoolCache, func(ctx context.Context, database string) (*pgxpool.Pool, error) {
		pc := base.Copy()
		pc.ConnConfig.Database = database
		return pgxpool.NewWithConfig(ctx, pc)
	})
	return s, nil
}

// tenantStatementCache is how many statements a tenant connection keeps
// prepared: the app's tenant statements, with room for many more.
const tenantStatementCache = 128

// shrinkStatementCaches fits a tenant connection's caches to what it runs.
// A process may hold thousands of tenant connections open, each running
// the app's few tenant statements, and pgx's default caches (512 prepared
// statements, 512 descriptions) make their maps at full size: ~50 KB a
// connection that nothing fills, ~100 MB with a thousand tenants' pools
// of two. A connection keeps tenantStatementCache statements and, unless
// its mode describes statements (cache_describe), no descriptions. A
// capacity DATABASE_URL sets (statement_cache_capacity,
// description_cache_capacity) other than pgx's default stands.
func shrinkStatementCaches(c *pgx.ConnConfig) {
	const pgxDefault = 512
	if c.StatementCacheCapacity == pgxDefault {
		c.StatementCacheCapacity = tenantStatementCache
	}
	if c.DescriptionCacheCapacity == pgxDefault && c.DefaultQueryExecMode != pgx.QueryExecModeCacheDescribe {
		c.DescriptionCacheCapacity = 0
	}
}

// capacityCheckTimeout bounds warnOverCapacity's query, so an unreachable
// server delays startup by this much at most.
const capacityCheckTimeout = 5 * time.Second

// warnOverCapacity logs a warning when this process alone could open more
// connections than the server accepts: every cached tenant pool full
// (TENANT_POOL_CACHE x TENANT_POOL_MAX_CONNS) plus the registry's own
// pools. Pools connect lazily, so a few active tenants never get near it,
// but under load across many tenants connections past the server's limit
// fail ("too many clients", 503 to the client) and each tenant beyond the
// cache pays a new connection per request. Nothing is refused: the server
// may be sized for it by the time the load comes; the warning says what to
// change. Other processes (the worker, more instances) count against the
// same limit.
func (s *tenantStorage) warnOverCapacity(ctx context.Context, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, capacityCheckTimeout)
	defer cancel()
	var limit int
	err := s.ts.pool.QueryRow(ctx, `SELECT current_setting('max_connections')::int
		- current_setting('superuser_reserved_connections')::int
		- coalesce(nullif(current_setting('reserved_connections', true), ''), '0')::int`).Scan(&limit)
	if err != nil {
		return // not reachable yet: readiness reports that
	}
	own := int(s.ts.pool.Config().MaxConns)
	if s.ts.session != s.ts.pool {
		own += int(s.ts.session.Config().MaxConns)
	}
	tenants := s.pools.capacity * int(s.base.MaxConns)
	if tenants+own <= limit {
		return
	}
	logger.WarnContext(ctx, "the tenant pools can open more connections than the database server accepts: "+
		"lower TENANT_POOL_CACHE or TENANT_POOL_MAX_CONNS, raise the server's max_connections, or put PgBouncer in front",
		slog.Int("tenant_pool_cache", s.pools.capacity), slog.Int("tenant_pool_max_conns", int(s.base.MaxConns)),
		slog.Int("registry_conns", own), slog.Int("server_accepts", limit))
}

func (s *tenantStorage) close() {
	s.pools.closeAll()
}

// databaseName is the database of the tenant with slug: at most 63 bytes
// (the prefix is at most 23, a slug at most 40), so never truncated, and
// always quoted where it reaches SQL.
func (s *tenantStorage) databaseName(slug string) string {
	return s.prefix + slug
}

func (s *tenantStorage) target(t domain.Tenant) string {
	return "database " + s.databaseName(t.Slug)
}

func (s *tenantStorage) inTenant(ctx context.Context, t domain.Tenant, fn func(pgx.Tx) error) error {
	return s.onPool(ctx, t, func(pool *pgxpool.Pool) error {
		tx, err := begin(ctx, pool)
		if err != nil {
			return fmt.Errorf("enter tenant %s: %w", t.Slug, err)
		}
		// Rolled back however fn ends, a panic included (after Commit this
		// does nothing): a transaction left open would keep its connection
		// from the pool, and closing the pool would wait for it forever.
		defer func() {
			rollbackCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = tx.Rollback(rollbackCtx)
		}()
		if err := fn(tx); err != nil {
			return err
		}
		return tx.Commit(ctx)
	})
}

// read runs fn, a ReadTenant, on t's pool: its one statement in the
// implicit transaction Postgres gives a statement of its own, one round
// trip where a transaction takes three. The pool reaches t's database and
// nothing else, so there is nothing to enter. A read that failed on a
// connection found dead (see begin) runs once more on a new one; a read
// can.
func (s *tenantStorage) read(ctx context.Context, t domain.Tenant, fn func(tenantdb.DBTX) error) error {
	return s.onPool(ctx, t, func(pool *pgxpool.Pool) error {
		err := fn(&poolRead{pool: pool})
		if err != nil && ctx.Err() == nil && isDeadConnection(err) {
			pool.Reset()
			err = fn(&poolRead{pool: pool})
		}
		return err
	})
}

// onPool runs fn on t's pool, taken from the cache and given back when fn
// returns. t's database missing fails closed: 503, tenant unavailable.
func (s *tenantStorage) onPool(ctx context.Context, t domain.Tenant, fn func(*pgxpool.Pool) error) error {
	tp, err := s.pools.acquire(ctx, s.databaseName(t.Slug))
	if err != nil {
		return fmt.Errorf("enter tenant %s: %w", t.Slug, err)
	}
	defer s.pools.release(tp)
	err = fn(tp.pool)
	if isMissingDatabase(err) {
		return domain.Wrap(err, domain.EUNAVAILABLE, fmt.Sprintf("Tenant %s is unavailable; try again later.", t.Slug))
	}
	return err
}

// poolRead is ReadTenant's tenantdb.DBTX in database mode: one statement
// on the tenant's pool. A second is refused, as in the other modes.
type poolRead struct {
	pool *pgxpool.Pool
	used bool
}

func (r *poolRead) take() error {
	if r.used {
		return errOneQuery
	}
	r.used = true
	return nil
}

func (r *poolRead) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if err := r.take(); err != nil {
		return pgconn.CommandTag{}, err
	}
	return r.pool.Exec(ctx, sql, args...)
}

func (r *poolRead) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if err := r.take(); err != nil {
		return nil, err
	}
	return r.pool.Query(ctx, sql, args...)
}

func (r *poolRead) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if err := r.take(); err != nil {
		return errRow{err}
	}
	return r.pool.QueryRow(ctx, sql, args...)
}

// begin starts a transaction on a tenant's pool. Idle connections in the
// pool can be dead without the pool knowing: the tenant's database was
// dropped or the server restarted, which ends every session on it. BEGIN on
// such a connection fails before anything ran, so after such a failure the
// pool drops all its connections and BEGIN is tried once more, on a new one;
// a database that is gone then says so (3D000) rather than failing with
// whatever ended the old connection. Other failures (too many connections,
// authentication) are returned as they are: dropping the pool would only
// add connection churn.
func begin(ctx context.Context, pool *pgxpool.Pool) (pgx.Tx, error) {
	tx, err := pool.Begin(ctx)
	if err == nil || ctx.Err() != nil || !isDeadConnection(err) {
		return tx, err
	}
	pool.Reset()
	return pool.Begin(ctx)
}

// isDeadConnection reports whether err says the connection it came from
// was already dead: closed by the server (connection exceptions, class 08;
// an administrator or a dropped database ending the session, 57P01-57P03)
// or cut under it. BEGIN never reached the server in that case.
func isDeadConnection(err error) bool {
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		return strings.HasPrefix(pgErr.Code, "08") || pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03"
	}
	return pgconn.SafeToRetry(err) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
}

// provision creates t's database and migrates it; on failure it drops the
// database again. A database that already exists is not t's to take, so it
// is a conflict and left alone.
func (s *tenantStorage) provision(ctx context.Context, conn db.DBTX, t domain.Tenant) error {
	name := s.databaseName(t.Slug)
	if name == s.control {
		return domain.Errorf(domain.ECONFLICT, "database %s is the control database; choose another slug", name)
	}
	_, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok && pgErr.Code == "42P04" {
		return domain.Errorf(domain.ECONFLICT, "database %s already exists; remove it or choose another slug", name)
	}
	if err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	if m := s.ts.migrateTenant(ctx, conn, t); m.Err != nil {
		undoCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := s.deprovision(undoCtx, conn, t); err != nil {
			return fmt.Errorf("%w (and dropping database %s failed: %w)", m.Err, name, err)
		}
		return m.Err
	}
	return nil
}

// deprovision drops t's database, if it exists, closing our pool first and
// any other session on it.
func (s *tenantStorage) deprovision(ctx context.Context, conn db.DBTX, t domain.Tenant) error {
	name := s.databaseName(t.Slug)
	if name == s.control {
		return fmt.Errorf("refusing to drop the control database %s", name)
	}
	s.pools.remove(name)
	_, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	return err
}

// connConfig returns the configuration of a connection to t's database.
func (s *tenantStorage) connConfig(t domain.Tenant) *pgx.ConnConfig {
	cfg := s.session.Copy()
	cfg.Database = s.databaseName(t.Slug)
	cfg.RuntimeParams["application_name"] += "-migrate"
	return cfg
}

// version reads t's goose version table on a short-lived connection to
// t's database (not a control-plane one, which cannot see it), so a run over
// thousands of tenants does not churn the pool cache that serves requests.
func (s *tenantStorage) version(ctx context.Context, _ db.DBTX, t domain.Tenant) (schemaVersion, error) {
	conn, err := pgx.ConnectConfig(ctx, s.connConfig(t))
	if isMissingDatabase(err) {
		return schemaVersion{}, fmt.Errorf("database %s does not exist", s.databaseName(t.Slug))
	}
	if err != nil {
		return schemaVersion{}, fmt.Errorf("connect to database %s: %w", s.databaseName(t.Slug), err)
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	var v schemaVersion
	err = conn.QueryRow(ctx,
		`SELECT coalesce(max(version_id), 0), count(DISTINCT version_id) FILTER (WHERE version_id > 0) FROM `+
			pgx.Identifier{"public", goose.DefaultTablename}.Sanitize(),
	).Scan(&v.current, &v.applied)
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok && pgErr.Code == "42P01" {
		return schemaVersion{}, nil // never migrated
	}
	if err != nil {
		return schemaVersion{}, fmt.Errorf("read version of database %s: %w", s.databaseName(t.Slug), err)
	}
	return v, nil
}

// migrate applies t's pending migrations with a goose provider of its own,
// holding a session advisory lock so two runs never migrate one tenant at once.
func (s *tenantStorage) migrate(ctx context.Context, conn db.DBTX, t domain.Tenant) (from, to int64, applied int, err error) {
	v, err := s.version(ctx, conn, t)
	if err != nil {
		return 0, 0, 0, err
	}
	if v.upToDate(s.ts.versions) {
		return v.current, v.current, 0, nil
	}
	name := s.databaseName(t.Slug)
	results, err := runGoose(ctx, stdlib.OpenDB(*s.connConfig(t)), s.ts.migrations, name, goose.DefaultTablename)
	to = v.current
	for _, r := range results {
		if r.Error == nil {
			to = max(to, r.Source.Version)
			applied++
		}
	}
	if err != nil {
		return v.current, to, applied, fmt.Errorf("migrate database %s: %w", name, err)
	}
	return v.current, to, applied, nil
}

// isMissingDatabase reports a connection refused because its database does
// not exist.
func isMissingDatabase(err error) bool {
	pgErr, ok := errors.AsType[*pgconn.PgError](err)
	return ok && pgErr.Code == "3D000"
}

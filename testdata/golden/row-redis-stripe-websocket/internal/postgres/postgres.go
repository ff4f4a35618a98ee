// Package postgres is the Postgres adapter: the connection pool, the
// embedded control-plane migrations and (in package db) their sqlc queries,
// and the tenant registry with the one way into tenant data
// (Tenants.InTenant, over the queries in package tenantdb).
package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/acme/shop-api/internal/postgres/db"
)

// Option tunes the pool Open returns.
type Option func(*pgxpool.Config)

// errOneQuery is what a second statement of a ReadTenant gets.
var errOneQuery = errors.New("postgres: ReadTenant runs one statement; use InTenant for more")

// errRow is a row whose query failed.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// MinMaxConns raises the pool's connection limit to at least n, unless
// DATABASE_URL sets pool_max_conns itself. The worker needs a connection
// per running job, on top of its own.
func MinMaxConns(n int32) Option {
	return func(cfg *pgxpool.Config) {
		cfg.MaxConns = max(cfg.MaxConns, n)
	}
}

// connPool is where a tenant's statements get a connection: a pool.
type connPool interface {
	Acquire(ctx context.Context) (*pgxpool.Conn, error)
}

// inTxBegun runs fn in a transaction that begin starts on a connection of
// pool, and commits it when fn returns nil, unless fn committed it
// itself: a unit sends its audit entries and the COMMIT in one round trip
// (see Unit.commit), after which the connection is idle and there is
// nothing left to commit. However fn ends (an error, a panic), a
// transaction still open is rolled back; a connection that could not
// roll back is closed, not given back to the pool.
func inTxBegun(ctx context.Context, pool connPool, begin func(context.Context, *pgx.Conn) (pgx.Tx, error), fn func(pgx.Tx) error) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	tx, err := begin(ctx, conn.Conn())
	if err != nil {
		return err
	}
	idle := func() bool { return conn.Conn().PgConn().TxStatus() == 'I' }
	defer func() {
		if !idle() {
			rollbackCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = tx.Rollback(rollbackCtx)
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	if idle() {
		return nil
	}
	return tx.Commit(ctx)
}

// oneQuery is a tenantdb.DBTX for one read (see Tenants.ReadTenant): its
// first statement goes out in one pipeline after the statement that enters
// the tenant, and the two run in the implicit transaction the pipeline
// makes, which ends with it (so does the tenant's setting, as with SET
// LOCAL). A second statement is refused: it would run outside the tenant.
type oneQuery struct {
	pool  connPool
	enter string // the statement that enters the tenant, taking args
	args  []any
	// failed maps the entering statement's error (a tenant whose storage
	// is missing) to the error the caller gets; nil keeps it.
	failed func(error) error
	// prepareCheck prepares the statement of a pending AccessCheck that
	// leads the pipeline (see sendChecked).
	prepareCheck bool
	// statements names the statement on its connection when it is
	// prepared there (schema mode's tenant statements); nil runs it as
	// the pool's query mode does.
	statements statementNamer
	used       bool
}

// statementNamer gives the name a tenant's statement runs under on a
// connection: one prepared for that tenant, or the statement's own text,
// which runs it as the pool's query mode does.
type statementNamer interface {
	// name returns sql's name on conn, preparing it first when that is
	// worth a round trip.
	name(ctx context.Context, conn *pgx.Conn, sql string) string
	// stale reports whether err, the error of the statement run under
	// name on conn, says its prepared plan no longer holds (the tenant's
	// tables changed under it: a migration), and then forgets it.
	stale(conn *pgx.Conn, name string, err error) bool
}

// send sends the entering statement and sql in one pipeline (led by the
// request's AccessCheck, when it has one pending) and returns their
// results, the entering statement's read, and the name sql ran under.
func (q *oneQuery) send(ctx context.Context, sql string, args []any) (*connResults, string, error) {
	if q.used {
		return nil, "", errOneQuery
	}
	q.used = true
	conn, err := q.pool.Acquire(ctx)
	if err != nil {
		return nil, "", err
	}
	name := sql
	if q.statements != nil {
		name = q.statements.name(ctx, conn.Conn(), sql)
	}
	b := &pgx.Batch{}
	b.Queue(q.enter, q.args...)
	b.Queue(name, args...)
	results, err := sendChecked(ctx, conn, b, q.prepareCheck)
	if err != nil {
		return nil, "", err
	}
	if _, err = results.Exec(); err != nil {
		_ = results.Close()
		if q.failed != nil {
			err = q.failed(err)
		}
		return nil, "", err
	}
	return results, name, nil
}

// again readies q to send sql once more, unprepared, after its prepared
// statement under name failed with err on the connection of results
// because its plan went stale, which it reports; results are closed
// either way.
func (q *oneQuery) again(results *connResults, sql, name string, err error) bool {
	stale := name != sql && q.statements.stale(results.conn.Conn(), name, err)
	_ = results.Close()
	if stale {
		q.used, q.statements = false, nil
	}
	return stale
}

func (q *oneQuery) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	results, name, err := q.send(ctx, sql, args)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	tag, err := results.Exec()
	if err == nil {
		return tag, results.Close()
	}
	if q.again(results, sql, name, err) {
		return q.Exec(ctx, sql, args...)
	}
	return tag, err
}

func (q *oneQuery) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	results, name, err := q.send(ctx, sql, args)
	if err != nil {
		return nil, err
	}
	rows, err := results.Query()
	if err != nil {
		if q.again(results, sql, name, err) {
			return q.Query(ctx, sql, args...)
		}
		return nil, err
	}
	pipelined := &pipelinedRows{Rows: rows, results: results}
	if name == sql {
		return pipelined, nil
	}
	// A stale plan fails before the first row: read it here, where the
	// query can still run again.
	if pipelined.peek() || rows.Err() == nil {
		return pipelined, nil
	}
	rowsErr := rows.Err()
	rows.Close()
	if q.again(results, sql, name, rowsErr) {
		return q.Query(ctx, sql, args...)
	}
	return nil, rowsErr
}

func (q *oneQuery) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return errRow{err}
	}
	return pgxRow{rows}
}

// sendChecked sends b on conn, led by the statement of ctx's pending
// AccessCheck when there is one: its row is read first, and a credential
// that no longer grants what was remembered ends the pipeline, unread,
// with ErrAccessChanged. The check runs first in the pipeline's implicit
// transaction, before anything enters a tenant. prepare has the check's
// statement prepared on the connection, for a pool whose statements are
// not (schema mode's, where control-plane statements are prepared apart:
// controlPlaneDB); the statement cache of any other pool prepares it.
// The results give conn back to the pool when they are closed, and so
// does an error.
func sendChecked(ctx context.Context, conn *pgxpool.Conn, b *pgx.Batch, prepare bool) (*connResults, error) {
	check := pendingCheck(ctx)
	if check == nil {
		return &connResults{BatchResults: conn.Conn().SendBatch(ctx, b), conn: conn}, nil
	}
	lead := &leadingStatement{conn: conn.Conn(), rest: b, prepare: prepare}
	if err := check.run(ctx, db.New(lead)); err != nil {
		if lead.results != nil {
			_ = lead.results.Close()
		}
		conn.Release()
		return nil, err
	}
	return &connResults{BatchResults: lead.results, conn: conn}, nil
}

// leadingStatement is the db.DBTX through which a :one query leads a
// pipeline on conn: its QueryRow sends the query and then rest's
// statements, and keeps the results for those.
type leadingStatement struct {
	conn    *pgx.Conn
	rest    *pgx.Batch
	prepare bool // prepare the query on conn first (see sendChecked)
	results pgx.BatchResults
}

// errLeadingStatement is what a query other than one row gets.
var errLeadingStatement = errors.New("postgres: only a one-row query leads a pipeline")

func (l *leadingStatement) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if l.prepare {
		// Named by its text, so the pipeline finds it (pgx names it
		// stmt_<hash> in Postgres); once per connection, then a lookup.
		if _, err := l.conn.Prepare(ctx, sql, sql); err != nil {
			return errRow{err}
		}
	}
	b := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, 1+len(l.rest.QueuedQueries))}
	b.Queue(sql, args...)
	b.QueuedQueries = append(b.QueuedQueries, l.rest.QueuedQueries...)
	l.results = l.conn.SendBatch(ctx, b)
	return l.results.QueryRow()
}

func (*leadingStatement) Exec(context.Context, string, ...any) (pgconn.CommandTag, error) {
	return pgconn.CommandTag{}, errLeadingStatement
}

func (*leadingStatement) Query(context.Context, string, ...any) (pgx.Rows, error) {
	return nil, errLeadingStatement
}

// connResults are a pipeline's results on a connection taken from the
// pool: closing them gives it back, once.
type connResults struct {
	pgx.BatchResults

	conn *pgxpool.Conn
}

func (r *connResults) Close() error {
	err := r.BatchResults.Close()
	if r.conn != nil {
		r.conn.Release()
		r.conn = nil
	}
	return err
}

// pipelinedRows are a pipeline's last rows: closing them ends the
// pipeline and gives its connection back to the pool.
type pipelinedRows struct {
	pgx.Rows

	results pgx.BatchResults
	// peeked is set while the first row, read ahead by peek, has not
	// been handed out by Next.
	peeked bool
}

// peek reads the first row ahead, for Next to hand out, and reports
// whether there is one.
func (r *pipelinedRows) peek() bool {
	r.peeked = r.Rows.Next()
	return r.peeked
}

func (r *pipelinedRows) Next() bool {
	if r.peeked {
		r.peeked = false
		return true
	}
	return r.Rows.Next()
}

func (r *pipelinedRows) Close() {
	r.Rows.Close()
	_ = r.results.Close()
}

// pgxRow is the one row of rows, as pgx.Conn.QueryRow gives it: Scan
// reads it, then closes rows; no row is pgx.ErrNoRows.
type pgxRow struct{ rows pgx.Rows }

func (r pgxRow) Scan(dest ...any) error {
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}

// Open returns a pool for databaseURL. Connections are made lazily, so Open
// succeeds while the database is down; readiness checks report it.
func Open(ctx context.Context, databaseURL, applicationName string, opts ...Option) (*pgxpool.Pool, error) {
	return open(ctx, databaseURL, applicationName, nil, opts...)
}

// parseConnConfig parses a connection URL for a single connection the way
// the pool parses it: pgx's pool parameters (pool_max_conns and the other
// pool_* ones), which DATABASE_URL may carry for the pool, are dropped
// instead of reaching Postgres as unknown settings.
func parseConnConfig(databaseURL string) (*pgx.ConnConfig, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, err
	}
	return cfg.ConnConfig, nil
}

// open is Open with a hook that adjusts the pool's configuration.
func open(ctx context.Context, databaseURL, applicationName string, configure func(*pgxpool.Config), opts ...Option) (*pgxpool.Pool, error) {
	cfg, err := parsePoolConfig(databaseURL, applicationName, opts...)
	if err != nil {
		return nil, err
	}
	if configure != nil {
		configure(cfg)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: create pool: %w", err)
	}
	return pool, nil
}

// parsePoolConfig parses a connection URL, applies opts and names the
// connections.
func parsePoolConfig(databaseURL, applicationName string, opts ...Option) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		// The parse error may quote the URL, password included: keep it out.
		return nil, errors.New("postgres: DATABASE_URL is not a valid connection string")
	}
	if !strings.Contains(databaseURL, "pool_max_conns") {
		for _, opt := range opts {
			opt(cfg)
		}
	}
	if _, set := cfg.ConnConfig.RuntimeParams["application_name"]; !set {
		cfg.ConnConfig.RuntimeParams["application_name"] = applicationName
	}
	return cfg, nil
}

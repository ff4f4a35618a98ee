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
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"example.com/acme/internal/config"
	"example.com/acme/internal/domain"
	"example.com/acme/internal/postgres/db"
)

// Schema per tenant. Tenant t's tables live in schema t_<slug>; public holds
// the control plane and no tenant table. A tenant-scoped transaction begins
// with
//
//	BEGIN; SELECT set_config('search_path', '"t_<slug>"', true), '"t_<slug>"'::regnamespace
//
// in one round trip. set_config with is_local = true (the same as SET LOCAL)
// sets search_path for this transaction only, so when it commits or rolls
// back the pooled connection is back to its default search_path and carries
// no tenant. The cast to regnamespace fails when the schema does not exist,
// and the transaction stops there: the tenant is unavailable (503), and its
// queries never fall through to public. The slug was validated (lowercase
// letters, digits and hyphens), the schema name is quoted as an identifier
// and the whole as a literal (sqlLiteral).
//
// Tenant transactions run their queries in QueryExecModeExec: no named
// prepared statements and no cached statement descriptions. With the
// default cache modes a statement prepared while one tenant's schema is on
// the search_path is reused for the next tenant, and once their schemas
// differ (mid-migration: some tenants already have a new column, some not)
// the cached description no longer matches ("cached plan must not change
// result type"). Exec mode still runs each query in one round trip; the
// tests pin this down. The control plane's queries (public only, run
// outside tenant transactions) are prepared once per connection instead:
// see controlPlaneDB.

// configureTenantPool sets the pool's query mode (see above): exec, or
// simple_protocol when DATABASE_URL chooses it. Whatever else the URL
// says, a tenant transaction never prepares or describes a statement
// (config refuses other modes there too; this does not rely on it).
func configureTenantPool(cfg *pgxpool.Config) {
	if cfg.ConnConfig.DefaultQueryExecMode != pgx.QueryExecModeSimpleProtocol {
		cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
	}
}

// execModeChosen reports whether a connection string chooses pgx's query
// mode: behind a transaction-pooling proxy that cannot keep prepared
// statements (PgBouncer before 1.21), the control plane must not prepare
// its statements either. It reads the string as pgx does, so a parameter
// name elsewhere in it (a password, say) is not mistaken for one.
func execModeChosen(connString string) bool {
	cfg, err := pgx.ParseConfig(connString)
	return err != nil || cfg.DefaultQueryExecMode != pgx.QueryExecModeCacheStatement
}

// controlPlaneDB is what the control plane's sqlc queries run on: the pool,
// with each statement prepared once per connection and reused (pgx's
// statement cache). They name public tables only and run outside tenant
// transactions, on the default search_path, so the exec mode tenant
// transactions need (see above) would only make Postgres parse and plan
// them again on every request.
func controlPlaneDB(pool *pgxpool.Pool) db.DBTX {
	if execModeChosen(pool.Config().ConnString()) {
		return pool // prepared statements are what DATABASE_URL's mode turns off
	}
	return preparedDB{pool: pool}
}

// preparedDB runs every statement on pool in QueryExecModeCacheStatement.
type preparedDB struct {
	pool *pgxpool.Pool
}

func (p preparedDB) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return p.pool.Exec(ctx, sql, prepared(args)...)
}

func (p preparedDB) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return p.pool.Query(ctx, sql, prepared(args)...)
}

func (p preparedDB) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return p.pool.QueryRow(ctx, sql, prepared(args)...)
}

// prepared puts the statement-cache mode in front of a query's arguments,
// where pgx reads it.
func prepared(args []any) []any {
	return append([]any{pgx.QueryExecModeCacheStatement}, args...)
}

// tenantStorage keeps each tenant in its own schema.
type tenantStorage struct {
	ts         *Tenants
	connConfig *pgx.ConnConfig // for migration connections
}

func newTenantStorage(_ context.Context, ts *Tenants, cfg config.Database, appName string) (*tenantStorage, error) {
	// Migrations set search_path for their whole session and goose locks
	// the schema with a session lock: DATABASE_SESSION_URL.
	connConfig, err := parseConnConfig(cfg.SessionURL)
	if err != nil {
		return nil, errors.New("postgres: DATABASE_SESSION_URL is not a valid connection string")
	}
	connConfig.RuntimeParams["application_name"] = appName + "-migrate"
	return &tenantStorage{ts: ts, connConfig: connConfig}, nil
}

func (s *tenantStorage) close() {}

// schemaName is the schema of the tenant with slug: at most 42 bytes, so
// never truncated, and always quoted where it reaches SQL.
func schemaName(slug string) string {
	return "t_" + slug
}

func (s *tenantStorage) target(t domain.Tenant) string {
	return "schema " + schemaName(t.Slug)
}

func (s *tenantStorage) inTenant(ctx context.Context, t domain.Tenant, fn func(pgx.Tx) error) error {
	schema := sqlLiteral(pgx.Identifier{schemaName(t.Slug)}.Sanitize())
	begin := pgx.TxOptions{BeginQuery: "BEGIN; SELECT set_config('search_path', " + schema + ", true), " + schema + "::regnamespace"}
	return missingSchema(t, inTx(ctx, s.ts.pool, begin, fn))
}

// reader is the one-statement DBTX of ReadTenant for t: its statement
// runs in the implicit transaction that sets search_path first, checked
// by the same cast as inTenant's.
func (s *tenantStorage) reader(t domain.Tenant) *oneQuery {
	return &oneQuery{
		pool: s.ts.pool, enter: "-- name: EnterTenant\nSELECT set_config('search_path', $1, true), $1::text::regnamespace",
		arg: pgx.Identifier{schemaName(t.Slug)}.Sanitize(), failed: func(err error) error { return missingSchema(t, err) },
	}
}

// missingSchema makes the error of entering t whose schema is missing
// (invalid_schema_name, from the cast to regnamespace) EUNAVAILABLE; other
// errors stay as they are. A connection left in the aborted transaction
// is not given back to the pool (pgxpool drops it).
func missingSchema(t domain.Tenant, err error) error {
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok && pgErr.Code == "3F000" && strings.Contains(pgErr.Message, schemaName(t.Slug)) {
		return domain.Wrap(fmt.Errorf("schema %s does not exist", schemaName(t.Slug)), domain.EUNAVAILABLE,
			fmt.Sprintf("Tenant %s is unavailable; try again later.", t.Slug))
	}
	return err
}

// provision creates t's schema and migrates it; on failure it drops the
// schema again. A schema that already exists is not t's to take (it may
// hold a removed tenant's data), so it is a conflict and left alone.
func (s *tenantStorage) provision(ctx context.Context, conn db.DBTX, t domain.Tenant) error {
	schema := pgx.Identifier{schemaName(t.Slug)}.Sanitize()
	_, err := conn.Exec(ctx, "CREATE SCHEMA "+schema)
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok && pgErr.Code == "42P06" {
		return domain.Errorf(domain.ECONFLICT, "schema %s already exists; remove it or choose another slug", schemaName(t.Slug))
	}
	if err != nil {
		return fmt.Errorf("create schema %s: %w", schemaName(t.Slug), err)
	}
	if m := s.ts.migrateTenant(ctx, conn, t); m.Err != nil {
		undoCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := s.deprovision(undoCtx, conn, t); err != nil {
			return fmt.Errorf("%w (and dropping schema %s failed: %w)", m.Err, schemaName(t.Slug), err)
		}
		return m.Err
	}
	return nil
}

// deprovision drops t's schema and everything in it, if it exists.
func (s *tenantStorage) deprovision(ctx context.Context, conn db.DBTX, t domain.Tenant) error {
	_, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schemaName(t.Slug)}.Sanitize()+" CASCADE")
	return err
}

// version reads t's goose version table on conn, a control-plane
// connection: one cheap query, so a run over thousands of up-to-date tenants
// opens no new connection.
func (s *tenantStorage) version(ctx context.Context, conn db.DBTX, t domain.Tenant) (schemaVersion, error) {
	table := pgx.Identifier{schemaName(t.Slug), goose.DefaultTablename}.Sanitize()
	var v schemaVersion
	err := conn.QueryRow(ctx,
		`SELECT coalesce(max(version_id), 0), count(DISTINCT version_id) FILTER (WHERE version_id > 0) FROM `+table,
	).Scan(&v.current, &v.applied)
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok {
		switch pgErr.Code {
		case "42P01": // undefined_table: the schema was never migrated
			return schemaVersion{}, nil
		case "3F000": // invalid_schema_name
			return schemaVersion{}, fmt.Errorf("schema %s does not exist", schemaName(t.Slug))
		}
	}
	if err != nil {
		return schemaVersion{}, fmt.Errorf("read version of %s: %w", schemaName(t.Slug), err)
	}
	return v, nil
}

// migrate applies t's pending migrations with a goose provider of its own:
// a connection whose search_path is t's schema (so the migrations' unqualified
// names and goose's version table land there) and a session advisory lock
// per schema (so two runs never migrate one tenant at once).
func (s *tenantStorage) migrate(ctx context.Context, conn db.DBTX, t domain.Tenant) (from, to int64, applied int, err error) {
	v, err := s.version(ctx, conn, t)
	if err != nil {
		return 0, 0, 0, err
	}
	if v.upToDate(s.ts.versions) {
		return v.current, v.current, 0, nil
	}
	schema := schemaName(t.Slug)
	cfg := s.connConfig.Copy()
	cfg.RuntimeParams["search_path"] = pgx.Identifier{schema}.Sanitize()
	results, err := runGoose(ctx, stdlib.OpenDB(*cfg), s.ts.migrations, schema, goose.DefaultTablename)
	to = v.current
	for _, r := range results {
		if r.Error == nil {
			to = max(to, r.Source.Version)
			applied++
		}
	}
	if err != nil {
		return v.current, to, applied, fmt.Errorf("migrate schema %s: %w", schema, err)
	}
	return v.current, to, applied, nil
}

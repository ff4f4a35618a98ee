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

	"example.com/acme/internal/domain"
	"example.com/acme/internal/postgres/db"
)

// Schema per tenant. Tenant t's tables live in schema t_<slug>; public holds
// the control plane and no tenant table. A tenant-scoped transaction begins
// with BEGIN and enterStatement in one pipeline (one round trip):
//
//	SELECT set_config('search_path', $1, true), $1::text::regnamespace, set_config('app.tenant_seal', $2, true)
//
// with the quoted schema name and the tenant's seal (seal.go) as bind
// parameters. set_config with is_local = true (the same as SET LOCAL) sets
// both for this transaction only, so when it commits or rolls back the
// pooled connection is back to its default search_path and carries no
// tenant. The cast to regnamespace fails when the schema does not exist,
// and the transaction stops there: the tenant is unavailable (503), and its
// queries never fall through to public. The search_path only resolves
// unqualified names; what keeps a transaction out of other tenants'
// schemas is row-level security on every table (confineSchema) and the
// seal its policy checks.
//
// The pool runs in QueryExecModeExec: no statement cache and no cached
// statement descriptions. With pgx's default cache a statement prepared
// while one tenant's schema is on the search_path is reused for the next
// tenant, and once their schemas differ (mid-migration: some tenants
// already have a new column, some not) the cached description no longer
// matches ("cached plan must not change result type"). What is prepared
// is prepared by name, for what it runs on: the control plane's queries
// (public only, outside tenant transactions: see controlPlaneDB), the
// statement that enters a tenant (the same for every tenant, run before
// the search_path changes), and a tenant read's statement, per schema
// (tenant_statements.go). The rest, a tenant transaction's own queries,
// runs unprepared, each still in one round trip; the tests pin this down.

// configureTenantPool sets the pool's query mode (see above): exec, or
// simple_protocol when DATABASE_URL chooses it. Whatever else the URL
// says, a tenant transaction never prepares or describes a statement
// (config refuses other modes there too; this does not rely on it). Every
// new connection checks its role (refuseBypassingRole): the seal's
// policies must apply to it.
func configureTenantPool(cfg *pgxpool.Config) {
	if cfg.ConnConfig.DefaultQueryExecMode != pgx.QueryExecModeSimpleProtocol {
		cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
	}
	cfg.AfterConnect = refuseBypassingRole
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

// schemaName is the schema of the tenant with slug: at most 42 bytes, so
// never truncated, and always quoted where it reaches SQL.
func schemaName(slug string) string {
	return "t_" + slug
}

func (s *tenantStorage) target(t domain.Tenant) string {
	return "schema " + schemaName(t.Slug)
}

// enterStatement enters a tenant: its schema on the search_path (checked
// to exist by the cast to regnamespace) and its seal, both for the
// transaction only. Its arguments are the quoted schema name and the seal,
// bind parameters, so no statement text (pg_stat_activity) ever shows a
// seal.
const enterStatement = "-- name: EnterTenant\nSELECT set_config('search_path', $1, true), $1::text::regnamespace, set_config('app.tenant_seal', $2, true)"

// enterArgs are enterStatement's arguments for t.
func (s *tenantStorage) enterArgs(t domain.Tenant) []any {
	return []any{pgx.Identifier{schemaName(t.Slug)}.Sanitize(), s.seal(t, time.Now())}
}

// conns is where t's transactions and reads get a connection: its shard
// (tenant_shards.go), or the shared pool when there are none.
func (s *tenantStorage) conns(t domain.Tenant) connPool {
	if s.shards == nil {
		return s.ts.pool
	}
	return s.shards.of(t)
}

// inTenant begins t's transaction in t's schema, sealed to t, in one round
// trip (beginEntered).
func (s *tenantStorage) inTenant(ctx context.Context, t domain.Tenant, fn func(pgx.Tx) error) error {
	enter := beginEntered(t, enterStatement, s.enterArgs(t)...)
	begin := enter
	if s.prepared {
		begin = func(ctx context.Context, conn *pgx.Conn) (pgx.Tx, error) {
			prepareEntering(ctx, conn)
			return enter(ctx, conn)
		}
	}
	return missingSchema(t, inTxBegun(ctx, s.conns(t), begin, fn))
}

// reader is the one-statement DBTX of ReadTenant for t: its statement
// runs in the implicit transaction that enters t first, prepared for t's
// schema unless DATABASE_URL chose the query mode.
func (s *tenantStorage) reader(t domain.Tenant) *oneQuery {
	q := &oneQuery{
		pool: s.conns(t), enter: enterStatement, args: s.enterArgs(t),
		failed:       func(err error) error { return missingSchema(t, err) },
		prepareCheck: s.prepared,
	}
	if s.prepared {
		q.statements = schemaStatements{s: s, t: t}
	}
	return q
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

// provision creates t's schema as the owner and migrates it; on failure it
// drops the schema again. A schema that already exists is not t's to take
// (it may hold a removed tenant's data), so it is a conflict and left
// alone.
func (s *tenantStorage) provision(ctx context.Context, _ db.DBTX, t domain.Tenant) error {
	return s.asOwner(ctx, "creating a tenant's schema", func(owner *pgx.Conn) error {
		schema := pgx.Identifier{schemaName(t.Slug)}.Sanitize()
		_, err := owner.Exec(ctx, "CREATE SCHEMA "+schema)
		if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok && pgErr.Code == "42P06" {
			return domain.Errorf(domain.ECONFLICT, "schema %s already exists; remove it or choose another slug", schemaName(t.Slug))
		}
		if err != nil {
			return fmt.Errorf("create schema %s: %w", schemaName(t.Slug), err)
		}
		if m := s.ts.migrateTenant(ctx, owner, t); m.Err != nil {
			undoCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			if err := dropSchema(undoCtx, owner, t); err != nil {
				return fmt.Errorf("%w (and dropping schema %s failed: %w)", m.Err, schemaName(t.Slug), err)
			}
			return m.Err
		}
		return nil
	})
}

// deprovision drops t's schema and everything in it, if it exists, as the
// owner.
func (s *tenantStorage) deprovision(ctx context.Context, _ db.DBTX, t domain.Tenant) error {
	return s.asOwner(ctx, "dropping a tenant's schema", func(owner *pgx.Conn) error {
		return dropSchema(ctx, owner, t)
	})
}

// dropSchema drops t's schema and everything in it, if it exists, on the
// owner's connection.
func dropSchema(ctx context.Context, owner *pgx.Conn, t domain.Tenant) error {
	_, err := owner.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schemaName(t.Slug)}.Sanitize()+" CASCADE")
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
// per schema (so two runs never migrate one tenant at once). The owner
// confines the schema first when it is not (a schema made before the seal,
// or a migration stopped between goose and confineSchema): until then the
// app's role cannot even read its version. A migration that applied
// something confines what it added.
func (s *tenantStorage) migrate(ctx context.Context, conn db.DBTX, t domain.Tenant) (from, to int64, applied int, err error) {
	confined, err := s.isConfined(ctx, conn, t)
	if err != nil {
		return 0, 0, 0, err
	}
	if !confined {
		if confineErr := s.confine(ctx, conn, t); confineErr != nil {
			return 0, 0, 0, confineErr
		}
	}
	v, err := s.version(ctx, conn, t)
	if err != nil {
		return 0, 0, 0, err
	}
	if v.upToDate(s.ts.versions) {
		return v.current, v.current, 0, nil
	}
	if s.migrateCfg == nil {
		return v.current, v.current, 0, domain.Errorf(domain.EUNAVAILABLE, "migrating a tenant's schema needs MIGRATE_DATABASE_URL, the owner's connection")
	}
	schema := schemaName(t.Slug)
	cfg := s.migrateCfg.Copy()
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
	return v.current, to, applied, s.confine(ctx, conn, t)
}

// confine runs confineSchema for t as the owner: on conn when it is the
// owner's (a tenant being created), otherwise on a connection of its own.
func (s *tenantStorage) confine(ctx context.Context, conn db.DBTX, t domain.Tenant) error {
	if c, ok := conn.(*pgx.Conn); ok && s.migrateCfg != nil && c.Config().User == s.migrateCfg.User {
		return s.confineSchema(ctx, c, t)
	}
	return s.asOwner(ctx, "confining a tenant's schema", func(owner *pgx.Conn) error {
		return s.confineSchema(ctx, owner, t)
	})
}

// tenantPolicy is the policy on each of a tenant's tables: its rows are
// visible and writable in a transaction sealed to that tenant only.
const tenantPolicy = "tenant_isolation"

// isConfined reports whether every table of t's schema has row-level
// security on, its policy, and the app's grants, on conn (any role's): a
// schema migrated before the seal, or one whose migration stopped between
// goose and confineSchema, is not.
func (s *tenantStorage) isConfined(ctx context.Context, conn db.DBTX, t domain.Tenant) (bool, error) {
	var confined bool
	err := conn.QueryRow(ctx, `
		SELECT NOT EXISTS (
		    SELECT 1 FROM pg_class c
		    WHERE c.relnamespace = $1::text::regnamespace AND c.relkind IN ('r', 'p') AND c.relname <> $2
		      AND (NOT c.relrowsecurity OR NOT has_table_privilege($3, c.oid, 'SELECT')
		           OR NOT EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname = $4)))`,
		pgx.Identifier{schemaName(t.Slug)}.Sanitize(), goose.DefaultTablename, s.appRole, tenantPolicy,
	).Scan(&confined)
	if err != nil {
		return false, fmt.Errorf("check schema %s is confined: %w", schemaName(t.Slug), err)
	}
	return confined, nil
}

// confineSchema confines t's schema to t's transactions, as the owner:
// row-level security on each table with the policy tenantPolicy (the
// sealed tenant must be t), and the app's role granted what it needs:
// the schema's use, its tables' data (the audit log's append-only: read
// and insert), its sequences, and reading goose's version table. Run after
// every migration, so new tables are covered; what is already there is
// left alone.
func (s *tenantStorage) confineSchema(ctx context.Context, owner *pgx.Conn, t domain.Tenant) error {
	schema := schemaName(t.Slug)
	rows, err := owner.Query(ctx, `
		SELECT c.relname, c.relkind = 'S', c.relrowsecurity,
		       EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname = $2)
		FROM pg_class c
		WHERE c.relnamespace = $1::text::regnamespace AND c.relkind IN ('r', 'p', 'S')
		ORDER BY c.relname`, pgx.Identifier{schema}.Sanitize(), tenantPolicy)
	if err != nil {
		return fmt.Errorf("list the tables of schema %s: %w", schema, err)
	}
	type object struct {
		name                      string
		sequence, secured, policy bool
	}
	objects, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (object, error) {
		var o object
		scanErr := row.Scan(&o.name, &o.sequence, &o.secured, &o.policy)
		return o, scanErr
	})
	if err != nil {
		return fmt.Errorf("list the tables of schema %s: %w", schema, err)
	}
	grantee := pgx.Identifier{s.appRole}.Sanitize()
	rule := "((SELECT public.app_tenant()) = " + sqlLiteral(t.ID) + "::uuid)"
	batch := &pgx.Batch{}
	batch.Queue("GRANT USAGE ON SCHEMA " + pgx.Identifier{schema}.Sanitize() + " TO " + grantee)
	for _, o := range objects {
		name := pgx.Identifier{schema, o.name}.Sanitize()
		isVersion := strings.HasPrefix(o.name, goose.DefaultTablename)
		switch {
		case isVersion && o.sequence:
			// goose's own; the app never writes its version table.
		case isVersion:
			batch.Queue("GRANT SELECT ON TABLE " + name + " TO " + grantee)
		case o.sequence:
			batch.Queue("GRANT USAGE, SELECT ON SEQUENCE " + name + " TO " + grantee)
		default:
			if !o.secured {
				batch.Queue("ALTER TABLE " + name + " ENABLE ROW LEVEL SECURITY")
			}
			if !o.policy {
				batch.Queue("CREATE POLICY " + tenantPolicy + " ON " + name + " USING " + rule + " WITH CHECK " + rule)
			}
			privileges := "SELECT, INSERT, UPDATE, DELETE"
			if o.name == "audit_entries" {
				privileges = "SELECT, INSERT" // append-only (see the audit migration)
			}
			batch.Queue("GRANT " + privileges + " ON TABLE " + name + " TO " + grantee)
		}
	}
	if err := owner.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("confine schema %s: %w", schema, err)
	}
	return nil
}

// sqlLiteral quotes s as an SQL string literal (standard_conforming_strings,
// on by default since Postgres 9.1: only the quote is special), for a
// policy's text, which takes no parameters.
func sqlLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// prepareControlPlane readies the control plane for sealed tenants, as the
// owner, before any tenant's schema migrates: the seal (installSeal), the
// control-plane tables that name a tenant confined inside a tenant's
// transaction (confineControlPlane), and the app's role granted what it
// needs in public.
func (s *tenantStorage) prepareControlPlane(ctx context.Context) error {
	return s.asOwner(ctx, "migrating", func(owner *pgx.Conn) error {
		if err := installSeal(ctx, owner, s.sealKey); err != nil {
			return err
		}
		if err := confineControlPlane(ctx, owner); err != nil {
			return err
		}
		return grantAppRole(ctx, owner, s.appRole)
	})
}

package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/acme/shop-api/internal/domain"
	"github.com/acme/shop-api/internal/postgres/db"
)

// Shared tables with row-level security. Every tenant table has tenant_id,
// leading each of its keys, and a policy comparing it with the transaction's
// tenant, app_tenant(). A tenant-scoped transaction first runs
//
//	SELECT set_config('app.tenant_seal', $1, true)
//
// which sets the seal for this transaction only (is_local = true, the same
// as SET LOCAL), so when it commits or rolls back the pooled connection
// carries no tenant. The seal is the tenant's id, an expiry and an HMAC of
// both under a key derived from SECRET_KEY (see seal); app_tenant() checks
// it with the same key, which `migrate` keeps where the app's role cannot
// read it, and fails the statement when it does not hold. So SQL run inside
// a tenant's transaction, a handler's or a job's own, cannot move it to
// another tenant: setting a seal it cannot make fails, and clearing it
// leaves no tenant table row visible or writable. The seal always travels
// as a bind parameter, never in the text of a statement, which other
// sessions of the role can read in pg_stat_activity (unless DATABASE_URL
// chooses default_query_exec_mode=simple_protocol: then pgx writes it into
// the text, and the expiry bounds how long a seal read there is good for).
//
// Postgres exempts superusers, roles with BYPASSRLS and (unless the table
// has FORCE ROW LEVEL SECURITY, which ours do) table owners from policies,
// so the app connects (DATABASE_URL) as a role that is none of these, while
// migrations run as the owner (MIGRATE_DATABASE_URL) and grant the app's
// role what it needs. Every new connection of the app's pool checks its
// role and is refused if it could bypass the policies.

// sharedTarget names the storage row mode migrates.
const sharedTarget = "shared tenant tables"

// tenantVersionTable records the tenant tables' migrations, apart from the
// control plane's goose_db_version.
const tenantVersionTable = "tenant_goose_db_version"

// configureTenantPool makes every connection check its role. The default
// statement cache is fine here: every tenant shares the same tables.
func configureTenantPool(cfg *pgxpool.Config) {
	cfg.AfterConnect = refuseBypassingRole
}

// inTenant begins t's transaction sealed to t, in one round trip
// (beginEntered).
func (s *tenantStorage) inTenant(ctx context.Context, t domain.Tenant, fn func(pgx.Tx) error) error {
	return inTxBegun(ctx, s.ts.pool, beginEntered(t, sealStatement, s.seal(t, time.Now())), fn)
}

// reader is the one-statement DBTX of ReadTenant for t: its statement
// runs in the implicit transaction that sets t's seal first.
func (s *tenantStorage) reader(t domain.Tenant) *oneQuery {
	return &oneQuery{pool: s.ts.pool, enter: sealStatement, args: []any{s.seal(t, time.Now())}}
}

// resealTenantTables moves tenant tables made before the seal (a policy or
// tenant_id default still reading app.tenant_id, which nothing sets any
// more) onto the seal: the default becomes tenantDefault, each such
// policy is dropped, and a table left without tenant_isolation gets it
// back on app_tenant(). Control-plane tables lose their stale tenant_scope
// here and confineControlPlane makes it again. Run as the owner after
// every migration; a table already moved is left alone.
func resealTenantTables(ctx context.Context, conn *pgx.Conn) error {
	const stale = "%app.tenant_id%"
	rows, err := conn.Query(ctx, `
		SELECT c.relname,
		       EXISTS (SELECT 1 FROM pg_attribute a JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
		               WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
		                 AND pg_get_expr(d.adbin, d.adrelid) LIKE $1),
		       coalesce((SELECT array_agg(p.polname::text ORDER BY p.polname) FROM pg_policy p
		                 WHERE p.polrelid = c.oid AND (pg_get_expr(p.polqual, p.polrelid) LIKE $1
		                                            OR pg_get_expr(p.polwithcheck, p.polrelid) LIKE $1)), '{}')
		FROM pg_class c
		WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')`, stale)
	if err != nil {
		return fmt.Errorf("list tenant tables: %w", err)
	}
	type table struct {
		name         string
		staleDefault bool
		stale        []string
	}
	tables, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (table, error) {
		var tb table
		scanErr := row.Scan(&tb.name, &tb.staleDefault, &tb.stale)
		return tb, scanErr
	})
	if err != nil {
		return fmt.Errorf("list tenant tables: %w", err)
	}
	batch := &pgx.Batch{}
	for _, tb := range tables {
		name := pgx.Identifier{"public", tb.name}.Sanitize()
		for _, policy := range tb.stale {
			batch.Queue("DROP POLICY " + pgx.Identifier{policy}.Sanitize() + " ON " + name)
		}
		if tb.staleDefault {
			batch.Queue("ALTER TABLE " + name + " ALTER COLUMN tenant_id SET DEFAULT " + tenantDefault)
		}
		if slices.Contains(tb.stale, tenantPolicy) {
			batch.Queue("CREATE POLICY " + tenantPolicy + " ON " + name + " USING " + tenantRule + " WITH CHECK " + tenantRule)
		}
	}
	if batch.Len() == 0 {
		return nil
	}
	if err := conn.SendBatch(ctx, batch).Close(); err != nil {
		return fmt.Errorf("move the tenant tables onto the seal: %w", err)
	}
	return nil
}

// tenantPolicy and tenantRule are a tenant table's policy: only the
// sealed tenant's rows, none when the transaction carries no seal.
// app_tenant() is a subquery so that Postgres calls it once per statement.
// tenantDefault is a tenant table's tenant_id default: the seal's id,
// unchecked (cheap, once per row), since the policy's WITH CHECK checks
// the seal of every row written.
const (
	tenantPolicy  = "tenant_isolation"
	tenantRule    = "(tenant_id = (SELECT app_tenant()))"
	tenantDefault = "NULLIF(split_part(current_setting('app.tenant_seal', true), '.', 1), '')::uuid"
)

// controlPlaneDB is what the control plane's sqlc queries run on: the pool,
// whose statements pgx prepares once per connection.
func controlPlaneDB(pool *pgxpool.Pool) db.DBTX {
	return pool
}

// provision has no storage to make: the tenant's rows will live in the
// shared tables. It checks that those are migrated, so a tenant is never
// created on tables this binary does not know.
func (s *tenantStorage) provision(ctx context.Context, conn db.DBTX, _ domain.Tenant) error {
	v, err := sharedVersion(ctx, conn)
	if err != nil {
		return err
	}
	if !v.upToDate(s.ts.versions) {
		return domain.Errorf(domain.EUNAVAILABLE,
			"the tenant tables are at version %d but this build needs %d; run migrate", v.current, s.ts.LatestVersion())
	}
	return nil
}

// deprovision has nothing to do: deleting the tenant's row deletes its rows
// in every tenant table (ON DELETE CASCADE).
func (s *tenantStorage) deprovision(context.Context, db.DBTX, domain.Tenant) error { return nil }

// MigrateTenants applies pending migrations to the tenant tables every
// tenant shares, as the owner, then grants the app's role what it needs on
// the tables. There is one set of tables, so there is nothing to select:
// --slug and --limit are refused.
func (ts *Tenants) MigrateTenants(ctx context.Context, opts MigrateOptions) (*MigrationReport, error) {
	if opts.Slug != "" || opts.Limit > 0 {
		return nil, domain.Errorf(domain.EINVALID, "every tenant shares the tenant tables in row mode, so they migrate at once: drop --slug and --limit")
	}
	s := ts.storage
	if s.migrateCfg == nil {
		return nil, domain.Errorf(domain.EINVALID, "migrating the tenant tables needs MIGRATE_DATABASE_URL, the owner's connection")
	}
	m := TenantMigration{Target: sharedTarget}
	err := func() error {
		conn, err := pgx.ConnectConfig(ctx, s.migrateCfg)
		if err != nil {
			return fmt.Errorf("connect to MIGRATE_DATABASE_URL: %w", err)
		}
		defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
		v, err := sharedVersion(ctx, conn)
		if err != nil {
			return err
		}
		m.From, m.To = v.current, v.current
		if sealErr := installSeal(ctx, conn, s.sealKey); sealErr != nil {
			return sealErr
		}
		results, err := runGoose(ctx, stdlib.OpenDB(*s.migrateCfg.Copy()), ts.migrations, sharedTarget, tenantVersionTable)
		for _, r := range results {
			if r.Error == nil {
				m.To = max(m.To, r.Source.Version)
				m.Applied++
			}
		}
		if err != nil {
			return fmt.Errorf("migrate %s: %w", sharedTarget, err)
		}
		if err := resealTenantTables(ctx, conn); err != nil {
			return err
		}
		if err := confineControlPlane(ctx, conn); err != nil {
			return err
		}
		return grantAppRole(ctx, conn, s.appRole)
	}()
	m.Err = err
	m.Behind = err != nil || m.To != ts.LatestVersion()
	if opts.Progress != nil {
		fmt.Fprintf(opts.Progress, "tenant migrate: %s at version %d, %d applied\n", sharedTarget, m.To, m.Applied)
	}
	return &MigrationReport{Latest: ts.LatestVersion(), Tenants: []TenantMigration{m}}, ctx.Err()
}

// CheckTenants reports where the shared tenant tables stand.
func (ts *Tenants) CheckTenants(ctx context.Context, opts MigrateOptions) (*MigrationReport, error) {
	if opts.Slug != "" {
		if _, err := ts.Resolve(ctx, opts.Slug); err != nil {
			return nil, err
		}
	}
	return &MigrationReport{Latest: ts.LatestVersion(), Tenants: []TenantMigration{ts.checkShared(ctx)}}, nil
}

// checkShared reads where the shared tenant tables stand.
func (ts *Tenants) checkShared(ctx context.Context) TenantMigration {
	m := TenantMigration{Target: sharedTarget}
	v, err := sharedVersion(ctx, ts.pool)
	m.From, m.To, m.Err = v.current, v.current, err
	m.Behind = err != nil || !v.upToDate(ts.versions)
	return m
}

// sharedVersion reads where the shared tenant tables' migrations stand.
func sharedVersion(ctx context.Context, q db.DBTX) (schemaVersion, error) {
	var v schemaVersion
	err := q.QueryRow(ctx, `SELECT coalesce(max(version_id), 0), count(DISTINCT version_id) FILTER (WHERE version_id > 0) FROM `+
		pgx.Identifier{"public", tenantVersionTable}.Sanitize()).Scan(&v.current, &v.applied)
	if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok && pgErr.Code == "42P01" {
		return schemaVersion{}, nil // never migrated
	}
	if err != nil {
		return schemaVersion{}, fmt.Errorf("read the tenant tables' version: %w", err)
	}
	return v, nil
}

package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/acme/shop-api/internal/config"
	"github.com/acme/shop-api/internal/domain"
	"github.com/acme/shop-api/internal/postgres"
)

// Row mode, attacked directly: the tenant setting lasts one transaction,
// the policies fail closed, a tenant cannot write another's tenant_id, and
// the catalog holds what isolation depends on.

// storageExists is false: row mode has no per-tenant storage.
func storageExists(*testing.T, *tenantsBundle, string) bool {
	return false
}

func TestRowTenantSettingLastsOneTransaction(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	acme, globex := b.create(t, "acme"), b.create(t, "globex")
	createProjects(t, b.tenants, acme, "acme", 2)
	createProjects(t, b.tenants, globex, "globex", 1)

	ts := pinned(t, b.cfg)
	outside := func() (setting string, pid int) {
		err := postgres.ControlPool(ts).QueryRow(t.Context(),
			`SELECT coalesce(current_setting('app.tenant_seal', true), ''), pg_backend_pid()`).Scan(&setting, &pid)
		require.NoError(t, err)
		return setting, pid
	}
	_, pid := outside()

	rollback := errors.New("roll back")
	for round := range 3 {
		for _, tc := range []struct {
			tenant domain.Tenant
			names  []string
		}{
			{acme, []string{"acme-1", "acme-2"}},
			{globex, []string{"globex-1"}},
		} {
			for _, want := range []error{nil, rollback} {
				err := ts.InTenantTx(t.Context(), tc.tenant, func(ctx context.Context, tx pgx.Tx) error {
					var setting string
					var txPID int
					require.NoError(t, tx.QueryRow(ctx, `SELECT app_tenant()::text, pg_backend_pid()`).Scan(&setting, &txPID))
					require.Equal(t, tc.tenant.ID, setting)
					require.Equal(t, pid, txPID, "one pinned connection")
					rows, err := tx.Query(ctx, `SELECT name FROM projects ORDER BY name`)
					require.NoError(t, err)
					got, err := pgx.CollectRows(rows, pgx.RowTo[string])
					require.NoError(t, err)
					require.Equal(t, tc.names, got, "round %d", round)
					return want
				})
				require.ErrorIs(t, err, want)
				setting, afterPID := outside()
				require.Equal(t, pid, afterPID)
				require.Empty(t, setting, "no tenant left on the connection after the transaction")
				var visible int
				require.NoError(t, postgres.ControlPool(ts).QueryRow(t.Context(), `SELECT count(*) FROM projects`).Scan(&visible))
				require.Zero(t, visible, "and so no rows")
			}
		}
	}
}

// ReadTenant's one statement runs with the tenant set, in the implicit
// transaction of its pipeline: it sees that tenant's rows, the connection
// carries no tenant afterwards, and a second statement is refused rather
// than run without one.
func TestRowReadTenantLastsOneStatement(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	acme, globex := b.create(t, "acme"), b.create(t, "globex")
	createProjects(t, b.tenants, acme, "acme", 2)
	createProjects(t, b.tenants, globex, "globex", 1)

	ts := pinned(t, b.cfg)
	requireReadsConfined(t, ts, acme, globex, func() (setting string, pid int) {
		err := postgres.ControlPool(ts).QueryRow(t.Context(),
			`SELECT coalesce(current_setting('app.tenant_seal', true), ''), pg_backend_pid()`).Scan(&setting, &pid)
		require.NoError(t, err)
		return setting, pid
	})
}

// Without a tenant set (never, or set to empty) the app's role sees no row
// and can write none.
func TestRowPoliciesFailClosed(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	acme := b.create(t, "acme")
	createProjects(t, b.tenants, acme, "acme", 3)
	conn := connect(t, b.cfg.URL)

	for _, setup := range []string{
		`SELECT 1`, // never set
		`SELECT set_config('app.tenant_seal', '', false)`,
	} {
		_, err := conn.Exec(t.Context(), setup)
		require.NoError(t, err)
		var n int
		require.NoError(t, conn.QueryRow(t.Context(), `SELECT count(*) FROM projects`).Scan(&n))
		require.Zero(t, n, setup)
		_, err = conn.Exec(t.Context(), `INSERT INTO projects (name) VALUES ('orphan')`)
		require.Error(t, err, "an insert without a tenant is rejected (%s)", setup)
		_, err = conn.Exec(t.Context(), `INSERT INTO projects (tenant_id, name) VALUES ($1, 'forged')`, acme.ID)
		require.ErrorContains(t, err, "row-level security", setup)
		tag, err := conn.Exec(t.Context(), `UPDATE projects SET name = 'defaced'`)
		require.NoError(t, err)
		require.Zero(t, tag.RowsAffected())
		tag, err = conn.Exec(t.Context(), `DELETE FROM projects`)
		require.NoError(t, err)
		require.Zero(t, tag.RowsAffected())
	}
	_, err := conn.Exec(t.Context(), `SELECT set_config('app.tenant_seal', 'not-a-seal', false)`)
	require.NoError(t, err)
	_, err = conn.Exec(t.Context(), `SELECT count(*) FROM projects`)
	require.ErrorContains(t, err, "tenant seal is not valid", "a garbled seal fails the query instead of matching anything")
	require.Len(t, listAll(t, b.tenants, acme), 3, "acme's rows are untouched")
}

// Inside acme's transaction, every hand-written attempt on globex's rows
// finds nothing or is refused.
func TestRowWritesCannotTargetAnotherTenant(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	acme, globex := b.create(t, "acme"), b.create(t, "globex")
	globexProject := createProjects(t, b.tenants, globex, "globex", 1)[0]

	inAcme := func(sql string, args ...any) (int64, error) {
		var affected int64
		err := b.tenants.InTenantTx(t.Context(), acme, func(ctx context.Context, tx pgx.Tx) error {
			tag, execErr := tx.Exec(ctx, sql, args...)
			affected = tag.RowsAffected()
			return execErr
		})
		return affected, err
	}
	_, err := inAcme(`INSERT INTO projects (tenant_id, name) VALUES ($1, 'planted')`, globex.ID)
	require.ErrorContains(t, err, "new row violates row-level security policy")
	createProjects(t, b.tenants, acme, "acme", 1)
	_, err = inAcme(`UPDATE projects SET tenant_id = $1`, globex.ID)
	require.ErrorContains(t, err, "new row violates row-level security policy")
	n, err := inAcme(`UPDATE projects SET name = 'defaced' WHERE id = $1`, globexProject.ID)
	require.NoError(t, err)
	require.Zero(t, n)
	n, err = inAcme(`DELETE FROM projects WHERE tenant_id = $1`, globex.ID)
	require.NoError(t, err)
	require.Zero(t, n)
	_, err = inAcme(`SELECT set_config('app.tenant_seal', $1, true); INSERT INTO projects (name) VALUES ('x')`, globex.ID)
	require.Error(t, err, "one statement per call: no smuggled second statement")

	require.Equal(t, []string{"globex-1"}, names(listAll(t, b.tenants, globex)))
}

// SQL run inside acme's transaction (a handler's or a job's own) cannot
// move it to globex: the tenant setting of old means nothing, a seal it
// makes up, forges with another key or that has expired fails the
// statement, and clearing the seal leaves no tenant row in reach. Only
// acme's rows are ever read or changed.
func TestRowTenantCannotBeSwitchedFromInside(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	acme, globex := b.create(t, "acme"), b.create(t, "globex")
	createProjects(t, b.tenants, acme, "acme", 1)
	createProjects(t, b.tenants, globex, "globex", 2)

	// A seal of globex's under another SECRET_KEY, and one under the
	// right key that expired, as a leaked one would have.
	forged := postgres.SealWithKey(strings.Repeat("x", config.MinSecretKeyLength), globex, time.Now())
	expired := postgres.Seal(b.tenants, globex, time.Now().Add(-postgres.SealLifetime-time.Minute))
	mac := postgres.Seal(b.tenants, acme, time.Now())
	madeUp := globex.ID + mac[len(acme.ID):] // acme's expiry and MAC on globex's id

	// inAcme sets setting to value in acme's transaction, with SQL of its
	// own, then updates and lists every project it can reach.
	inAcme := func(setting, value string) ([]string, error) {
		var seen []string
		err := b.tenants.InTenantTx(t.Context(), acme, func(ctx context.Context, tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT set_config($1, $2, true)`, setting, value); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE projects SET name = name || '!'`); err != nil {
				return err
			}
			rows, err := tx.Query(ctx, `SELECT name FROM projects ORDER BY name`)
			if err != nil {
				return err
			}
			seen, err = pgx.CollectRows(rows, pgx.RowTo[string])
			return err
		})
		return seen, err
	}

	seen, err := inAcme("app.tenant_id", globex.ID)
	require.NoError(t, err)
	require.Equal(t, []string{"acme-1!"}, seen, "the old tenant setting moves nothing")
	for name, seal := range map[string]string{"made up": madeUp, "another key": forged, "expired": expired, "garbled": "x"} {
		_, err = inAcme("app.tenant_seal", seal)
		require.ErrorContains(t, err, "tenant seal is not valid", name)
	}
	seen, err = inAcme("app.tenant_seal", "")
	require.NoError(t, err)
	require.Empty(t, seen, "without a seal no tenant row is visible (TestRowPoliciesFailClosed: nor writable)")

	// The key stays the owner's: the app's role cannot read it.
	_, err = connect(t, b.cfg.URL).Exec(t.Context(), `SELECT count(*) FROM app_private.tenant_seal_key`)
	require.ErrorContains(t, err, "permission denied")

	require.Equal(t, []string{"globex-1", "globex-2"}, names(listAll(t, b.tenants, globex)), "globex untouched")
}

// tenantTableFilter keeps the tenant tables: those whose tenant_id defaults
// to the transaction's tenant, as tenantmigrations/00001_projects.sql says
// every tenant table's must.
const tenantTableFilter = `EXISTS (SELECT 1 FROM pg_attribute a JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
		               WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
		                 AND pg_get_expr(d.adbin, d.adrelid) LIKE '%app.tenant_seal%')`

// What isolation depends on, read from the catalog: every tenant table has
// row-level security enabled and forced and a policy, and tenant_id in each
// of its unique keys; every other table with a tenant_id is a known
// control-plane table; the app's role owns nothing and cannot bypass the
// policies.
func TestRowCatalogHardening(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	admin := connect(t, b.cfg.MigrateURL)

	rows, err := admin.Query(t.Context(), `
		SELECT c.relname
		FROM pg_class c
		WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
		  AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)
		  AND NOT `+tenantTableFilter+`
		ORDER BY c.relname`)
	require.NoError(t, err)
	others, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	// The control plane's tables that name a tenant are the ones migrate
	// confines (postgres.controlPlaneTenantTables): a new one must be added
	// there.
	require.ElementsMatch(t, postgres.ControlPlaneTenantTables, others,
		"a table with tenant_id is a tenant table (tenant_id defaulting to the transaction's tenant, with row-level security) or a known control-plane table")
	for _, name := range others {
		var enabled, forced, policy bool
		require.NoError(t, admin.QueryRow(t.Context(), `
			SELECT c.relrowsecurity, c.relforcerowsecurity,
			       EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname = 'tenant_scope')
			FROM pg_class c WHERE c.oid = ('public.' || $1)::regclass`, name).Scan(&enabled, &forced, &policy))
		require.True(t, enabled && forced && policy, "%s: row-level security enabled and forced, with the tenant_scope policy", name)
	}

	rows, err = admin.Query(t.Context(), `
		SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
		       (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid)
		FROM pg_class c
		WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
		  AND `+tenantTableFilter+`
		ORDER BY c.relname`)
	require.NoError(t, err)
	type table struct {
		name            string
		enabled, forced bool
		policies        int
	}
	tables, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (table, error) {
		var tb table
		scanErr := row.Scan(&tb.name, &tb.enabled, &tb.forced, &tb.policies)
		return tb, scanErr
	})
	require.NoError(t, err)
	require.NotEmpty(t, tables)
	for _, tb := range tables {
		require.True(t, tb.enabled, "%s: row-level security enabled", tb.name)
		require.True(t, tb.forced, "%s: row-level security forced", tb.name)
		require.Positive(t, tb.policies, "%s: has a policy", tb.name)
	}

	var keysWithoutTenant []string
	rows, err = admin.Query(t.Context(), `
		SELECT con.conname
		FROM pg_constraint con
		JOIN pg_class c ON c.oid = con.conrelid
		WHERE c.relnamespace = 'public'::regnamespace AND con.contype IN ('p', 'u', 'f')
		  AND `+tenantTableFilter+`
		  AND NOT (SELECT attnum FROM pg_attribute WHERE attrelid = c.oid AND attname = 'tenant_id') = ANY (con.conkey)`)
	require.NoError(t, err)
	keysWithoutTenant, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Empty(t, keysWithoutTenant, "every primary, unique and foreign key of a tenant table includes tenant_id")

	// Every policy reads the tenant from its seal: one reading the tenant
	// setting of old (migrations written before the seal) is rewritten.
	rows, err = admin.Query(t.Context(), `
		SELECT p.polrelid::regclass::text || ' ' || p.polname FROM pg_policy p
		WHERE concat(pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid)) NOT LIKE '%app_tenant()%'
		   OR concat(pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid)) LIKE '%app.tenant_id%'`)
	require.NoError(t, err)
	unsealed, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Empty(t, unsealed, "every policy compares tenant_id with app_tenant()")

	app := connect(t, b.cfg.URL)
	var role string
	var super, bypass bool
	var owned int
	require.NoError(t, app.QueryRow(t.Context(), `
		SELECT r.rolname, r.rolsuper, r.rolbypassrls,
		       (SELECT count(*) FROM pg_class c WHERE pg_has_role(r.oid, c.relowner, 'MEMBER'))
		FROM pg_roles r WHERE r.rolname = current_user`).Scan(&role, &super, &bypass, &owned))
	require.False(t, super, "%s is not a superuser", role)
	require.False(t, bypass, "%s has no BYPASSRLS", role)
	require.Zero(t, owned, "%s owns nothing", role)

	_, err = app.Exec(t.Context(), `ALTER TABLE projects DISABLE ROW LEVEL SECURITY`)
	require.ErrorContains(t, err, "must be owner")
	_, err = app.Exec(t.Context(), `SET row_security = off`)
	require.NoError(t, err)
	_, err = app.Exec(t.Context(), `SELECT count(*) FROM projects`)
	require.ErrorContains(t, err, "row-level security", "switching row security off makes queries fail, not see everything")
	_, err = app.Exec(t.Context(), `RESET row_security`)
	require.NoError(t, err)
	_, err = app.Exec(t.Context(), `INSERT INTO tenant_goose_db_version (version_id, is_applied) VALUES (99, true)`)
	require.ErrorContains(t, err, "permission denied", "the app cannot fake a migration")
	_, err = app.Exec(t.Context(), `CREATE TABLE sneaky (id int)`)
	require.ErrorContains(t, err, "permission denied", "the app cannot create tables (and so own one)")
}

// Row mode migrates one set of shared tables, as the owner, and grants the
// app's role its access; --slug and --limit make no sense and are refused.
func TestRowMigrationsAreShared(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	b.create(t, "acme")

	report, err := b.tenants.MigrateTenants(t.Context(), postgres.MigrateOptions{})
	require.NoError(t, err)
	require.Len(t, report.Tenants, 1)
	require.Equal(t, "shared tenant tables", report.Tenants[0].Target)
	require.Zero(t, report.Applied(), "already migrated by setup")

	for _, opts := range []postgres.MigrateOptions{{Slug: "acme"}, {Limit: 10}} {
		_, err = b.tenants.MigrateTenants(t.Context(), opts)
		require.Equal(t, domain.EINVALID, domain.ErrorCode(err))
	}

	next := openTenants(t, b.cfg, postgres.TenantsOptions{Migrations: withMigration(t, "90000_archived.sql", `-- +goose Up
ALTER TABLE projects ADD COLUMN archived boolean NOT NULL DEFAULT false;
-- +goose Down
ALTER TABLE projects DROP COLUMN archived;
`)})
	check, err := next.CheckTenants(t.Context(), postgres.MigrateOptions{})
	require.NoError(t, err)
	require.Len(t, check.Behind(), 1)
	_, err = next.Create(t.Context(), "globex", "Globex")
	require.Equal(t, domain.EUNAVAILABLE, domain.ErrorCode(err), "no tenant is created on tables behind this build")

	report, err = next.MigrateTenants(t.Context(), postgres.MigrateOptions{})
	require.NoError(t, err)
	require.Equal(t, 1, report.Applied())
	check, err = next.CheckTenants(t.Context(), postgres.MigrateOptions{})
	require.NoError(t, err)
	require.Empty(t, check.Behind())
	_, err = next.Create(t.Context(), "globex", "Globex")
	require.NoError(t, err)
}

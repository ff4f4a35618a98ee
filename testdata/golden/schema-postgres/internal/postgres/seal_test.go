package postgres_test

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"example.com/acme/internal/config"
	"example.com/acme/internal/domain"
	"example.com/acme/internal/postgres"
	"example.com/acme/internal/postgres/tenantdb"
	"example.com/acme/internal/testsvc"
)

// The seal and the app's role, in row and schema mode alike: the seal never
// shows in a statement's text, a process with another SECRET_KEY neither
// starts nor stays ready, the control plane's tables are confined in a
// tenant's transaction, and a role the policies do not apply to is refused.

// A seal is sent as a bind parameter, never in a statement's text: other
// sessions of the app's role can read the text of every statement in
// pg_stat_activity, so a seal there could be read and used by another
// tenant's transaction while it is good. Both ways in are checked while
// the transaction (or the read) is the session's last statement.
func TestSealNeverInStatementText(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	acme := b.create(t, "acme")
	createProjects(t, b.tenants, acme, "acme", 1)
	ts := pinned(t, b.cfg)
	observer := connect(t, b.cfg.URL) // the same role, as another tenant's transaction would be
	seal := postgres.Seal(ts, acme, time.Now())
	id := seal[:strings.Index(seal, ".")+1] // the id and the dot before the expiry

	texts := func() []string {
		rows, err := observer.Query(t.Context(),
			`SELECT query FROM pg_stat_activity WHERE usename = current_user AND pid <> pg_backend_pid()`)
		require.NoError(t, err)
		got, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		require.NotEmpty(t, got, "the pinned connection is listed")
		return got
	}
	require.NoError(t, ts.InTenantTx(t.Context(), acme, func(ctx context.Context, tx pgx.Tx) error {
		seen := texts()
		require.True(t, slices.ContainsFunc(seen, func(text string) bool { return strings.Contains(text, "app.tenant_seal") }),
			"the statement that sealed the transaction is what the observer sees: %q", seen)
		for _, text := range seen {
			require.NotContains(t, text, id, "the transaction's statements name no seal")
		}
		_, err := tx.Exec(ctx, `SELECT 1`)
		return err
	}))
	require.NoError(t, ts.ReadTenant(t.Context(), acme, func(ctx context.Context, q *tenantdb.Queries) error {
		_, err := q.ListProjects(ctx, firstPage(t, 10))
		return err
	}))
	for _, text := range texts() {
		require.NotContains(t, text, id, "nor does the read's")
	}
}

// A process whose SECRET_KEY is not the one the database was migrated
// with would fail every tenant's request: it refuses to start instead.
func TestRefusesToStartWithAnotherSecretKey(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	cfg := b.cfg
	cfg.SecretKey = strings.Repeat("y", config.MinSecretKeyLength)
	ts, err := postgres.OpenTenants(t.Context(), cfg, postgres.TenantsOptions{AppName: "test"})
	if ts != nil {
		ts.Close()
	}
	require.ErrorContains(t, err, "SECRET_KEY is not the one `migrate` last ran with")
}

// A running process whose database was migrated since with another
// SECRET_KEY can serve no tenant: it stops reporting ready, and its
// tenant statements fail rather than find nothing.
func TestNotReadyOnceTheDatabaseHasAnotherSealKey(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	acme := b.create(t, "acme")
	createProjects(t, b.tenants, acme, "acme", 1) // a policy is checked against the rows there are
	require.NoError(t, b.tenants.Ping(t.Context()))

	owner := connect(t, b.cfg.MigrateURL)
	require.NoError(t, postgres.InstallSealKey(t.Context(), owner, strings.Repeat("z", config.MinSecretKeyLength)))
	require.ErrorContains(t, b.tenants.Ping(t.Context()), "SECRET_KEY is not the one `migrate` last ran with")
	err := b.tenants.InTenantTx(t.Context(), acme, func(ctx context.Context, tx pgx.Tx) error {
		_, execErr := tx.Exec(ctx, `SELECT count(*) FROM projects`)
		return execErr
	})
	require.ErrorContains(t, err, "tenant seal is not valid")

	require.NoError(t, postgres.InstallSealKey(t.Context(), owner, b.cfg.SecretKey))
	require.NoError(t, b.tenants.Ping(t.Context()), "ready again once the keys agree")
}

// In a tenant's transaction the control-plane tables that name a tenant
// are confined to it as well: a handler's or job's own SQL there sees and
// writes no other tenant's rows. Outside one (the control plane's own
// reads, which come before the tenant is known) every row is visible.
func TestControlPlaneConfinedInATenantsTransaction(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	acme, globex := b.create(t, "acme"), b.create(t, "globex")
	admin := connect(t, b.cfg.MigrateURL)
	for _, tenant := range []domain.Tenant{acme, globex} {
		_, err := admin.Exec(t.Context(), `INSERT INTO invitation_counts (tenant_id, day, sent) VALUES ($1, current_date, 1)`, tenant.ID)
		require.NoError(t, err)
		_, err = admin.Exec(t.Context(), `INSERT INTO job_processed (tenant_id, kind, key) VALUES ($1, 'test', 'k')`, tenant.ID)
		require.NoError(t, err)
	}

	count := func(q interface {
		QueryRow(context.Context, string, ...any) pgx.Row
	}, ctx context.Context, table string) int {
		var n int
		require.NoError(t, q.QueryRow(ctx, `SELECT count(DISTINCT tenant_id) FROM public.`+table).Scan(&n))
		return n
	}
	app := connect(t, b.cfg.URL)
	require.Equal(t, 2, count(app, t.Context(), "invitation_counts"), "the control plane, no tenant set, reads across tenants")

	err := b.tenants.InTenantTx(t.Context(), acme, func(ctx context.Context, tx pgx.Tx) error {
		for _, table := range []string{"invitation_counts", "job_processed", "memberships", "roles"} {
			require.LessOrEqual(t, count(tx, ctx, table), 1, table)
		}
		var seen string
		require.NoError(t, tx.QueryRow(ctx, `SELECT tenant_id::text FROM public.invitation_counts`).Scan(&seen))
		require.Equal(t, acme.ID, seen)
		tag, execErr := tx.Exec(ctx, `UPDATE public.invitation_counts SET sent = 99 WHERE tenant_id = $1`, globex.ID)
		require.NoError(t, execErr)
		require.Zero(t, tag.RowsAffected(), "globex's row is out of reach")
		tag, execErr = tx.Exec(ctx, `DELETE FROM public.job_processed WHERE tenant_id = $1`, globex.ID)
		require.NoError(t, execErr)
		require.Zero(t, tag.RowsAffected())
		return nil
	})
	require.NoError(t, err)
	err = b.tenants.InTenantTx(t.Context(), acme, func(ctx context.Context, tx pgx.Tx) error {
		_, execErr := tx.Exec(ctx, `INSERT INTO public.job_processed (tenant_id, kind, key) VALUES ($1, 'test', 'planted')`, globex.ID)
		return execErr
	})
	require.ErrorContains(t, err, "row-level security")

	var sent int
	require.NoError(t, admin.QueryRow(t.Context(), `SELECT sent FROM invitation_counts WHERE tenant_id = $1`, globex.ID).Scan(&sent))
	require.Equal(t, 1, sent)
}

// The registry refuses to open on a role that could bypass row-level
// security, a superuser or a role owning a table, so the app never starts
// on one; and a connection made later with such a role is refused too.
func TestRefusesRolesThatBypassPolicies(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	acme := b.create(t, "acme")

	superuser := b.cfg
	superuser.URL = b.cfg.MigrateURL // the tests' owner is a superuser
	_, err := postgres.OpenTenants(t.Context(), superuser, postgres.TenantsOptions{})
	require.ErrorContains(t, err, "superuser or BYPASSRLS")

	role := testsvc.NewAppRole(t, b.cfg.MigrateURL)
	u, err := url.Parse(role)
	require.NoError(t, err)
	confined := b.cfg
	confined.URL = role
	ts := openTenants(t, confined, postgres.TenantsOptions{})
	admin := connect(t, b.cfg.MigrateURL)
	_, err = admin.Exec(t.Context(), `CREATE TABLE owned_by_app (id int); ALTER TABLE owned_by_app OWNER TO `+pgx.Identifier{u.User.Username()}.Sanitize())
	require.NoError(t, err)
	_, err = postgres.OpenTenants(t.Context(), confined, postgres.TenantsOptions{})
	require.ErrorContains(t, err, "owns tables")

	// The registry opened before the role changed holds a connection made
	// while it was safe; the role is checked again on every new one.
	_, err = admin.Exec(t.Context(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1`, u.User.Username())
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		err := ts.InTenant(t.Context(), acme, func(context.Context, *postgres.Unit) error { return nil })
		return err != nil && strings.Contains(err.Error(), "owns tables")
	}, 5*time.Second, 50*time.Millisecond)
	// Readiness fails too, on a connection made after the termination (the
	// pool may first hand out one the termination ended).
	require.Eventually(t, func() bool {
		err := ts.Ping(t.Context())
		return err != nil && strings.Contains(err.Error(), "owns tables")
	}, 5*time.Second, 50*time.Millisecond, "readiness fails too")
}

package postgres_test

import (
	"context"
	"crypto/rand"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/acme/shop-api/internal/domain"
	"github.com/acme/shop-api/internal/jobs"
	"github.com/acme/shop-api/internal/postgres"
)

// scope selects the tenant's rows of an audit table for SQL run as the
// owner, whom row-level security does not confine.
const scope = `tenant_id = app_tenant()`

// setupAudit is a tenancy bundle whose units record into the audit log.
func setupAudit(tb testing.TB) (*tenantsBundle, *postgres.AuditLog) {
	tb.Helper()
	b := setupTenants(tb)
	log := postgres.NewAuditLog(b.tenants)
	b.tenants.UseSeams(postgres.Seams{Audit: log})
	return b, log
}

// audit records n changes in tn, one unit each.
func audit(t *testing.T, ts *postgres.Tenants, tn domain.Tenant, n int) {
	t.Helper()
	for i := range n {
		err := ts.InTenant(t.Context(), tn, func(ctx context.Context, u *postgres.Unit) error {
			return u.Audit(ctx, "thing.update", "thing:"+strconv.Itoa(i), map[string]int{"n": i}, map[string]int{"n": i + 1})
		})
		require.NoError(t, err)
	}
}

// asOwner runs fn in a transaction in tn's storage as the owner of the
// tables, a superuser here (MIGRATE_DATABASE_URL).
func asOwner(tb testing.TB, b *tenantsBundle, tn domain.Tenant, fn func(ctx context.Context, tx pgx.Tx) error) error {
	tb.Helper()
	conn, err := pgx.Connect(tb.Context(), b.cfg.MigrateURL)
	require.NoError(tb, err)
	defer func() { require.NoError(tb, conn.Close(context.WithoutCancel(tb.Context()))) }()
	return pgx.BeginFunc(tb.Context(), conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(tb.Context(), `SELECT set_config('app.tenant_seal', $1, true)`, postgres.Seal(b.tenants, tn, time.Now())); err != nil {
			return err
		}
		return fn(tb.Context(), tx)
	})
}

// tamper runs sql as the owner in tn's storage with triggers off (the
// append-only trigger included), as someone with the database's files or
// superuser access could.
func tamper(t *testing.T, b *tenantsBundle, tn domain.Tenant, sql string) {
	t.Helper()
	require.NoError(t, asOwner(t, b, tn, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `SET LOCAL session_replication_role = replica; `+sql)
		return err
	}))
}

func verifyTenant(t *testing.T, log *postgres.AuditLog, tn domain.Tenant) postgres.ChainReport {
	t.Helper()
	reports, err := log.Verify(t.Context(), tn)
	require.NoError(t, err)
	require.Len(t, reports, 2)
	require.True(t, reports[1].OK(), "control-plane chain: %s", reports[1].Problem)
	return reports[0]
}

// requireChainStartsAtGenesis asserts that tn's first entry follows the
// genesis (32 zero bytes), which Verify cannot see for itself: it starts
// from the anchor the head row keeps, made by the same statement.
func requireChainStartsAtGenesis(t *testing.T, ts *postgres.Tenants, tn domain.Tenant) {
	t.Helper()
	var prev []byte
	require.NoError(t, ts.InTenant(t.Context(), tn, func(ctx context.Context, u *postgres.Unit) error {
		return u.Tx().QueryRow(ctx, `SELECT prev_hash FROM audit_entries WHERE seq = 1`).Scan(&prev)
	}))
	require.Equal(t, make([]byte, 32), prev, "the chain's first entry follows the genesis")
}

// roundTrips counts what the connections send Postgres and wait for: a
// statement, a prepare, or a batch (one pipeline, however many statements);
// and, in statements, the statements of the batches.
type roundTrips struct{ n, statements atomic.Int64 }

func (r *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	r.n.Add(1)
	return ctx
}

func (*roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (r *roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	r.n.Add(1)
	return ctx
}

func (r *roundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {
	r.statements.Add(1)
}

func (*roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

func (*roundTrips) TracePrepareStart(ctx context.Context, _ *pgx.Conn, _ pgx.TracePrepareStartData) context.Context {
	return ctx
}

// TracePrepareEnd counts a statement prepared, not one found prepared
// already, which costs no round trip.
func (r *roundTrips) TracePrepareEnd(_ context.Context, _ *pgx.Conn, data pgx.TracePrepareEndData) {
	if !data.AlreadyPrepared {
		r.n.Add(1)
	}
}

// Recording a change costs the write no round trip: the unit sends its
// entries with the COMMIT, in one pipeline, each entry one statement that
// moves the chain's head (making it for the chain's first entry), writes
// the entry and moves the control plane's copy of the head.
func TestAuditCostsAWriteNoRoundTrip(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	acme := b.create(t, "acme")
	trips := &roundTrips{}
	ts := openTenants(t, b.cfg, postgres.TenantsOptions{Tracer: trips})
	log := postgres.NewAuditLog(ts)
	events := &seams{} // unit_test.go's recorder, for its events
	ts.UseSeams(postgres.Seams{Audit: log, Events: events})
	// change writes a project and records n entries; it returns the round
	// trips it took, and the statements its batches sent.
	change := func(n int) (int64, int64) {
		before, statementsBefore := trips.n.Load(), trips.statements.Load()
		require.NoError(t, ts.InTenant(t.Context(), acme, func(ctx context.Context, u *postgres.Unit) error {
			if _, err := u.Tx().Exec(ctx, `INSERT INTO projects (name) VALUES ('apollo')`); err != nil {
				return err
			}
			for i := range n {
				if err := u.Audit(ctx, "project.create", "project:"+strconv.Itoa(i), nil, map[string]int{"n": i}); err != nil {
					return err
				}
			}
			return nil
		}))
		return trips.n.Load() - before, trips.statements.Load() - statementsBefore
	}
	change(0) // prepares on the connection what it prepares once
	plain, plainStatements := change(0)
	require.EqualValues(t, 3, plain, "BEGIN (with the tenant's seal), the write, COMMIT")
	// The chain's first entry makes its head in the same statement.
	for i, n := range []int{1, 1, 3} {
		got, statements := change(n)
		require.Equal(t, plain, got, "round trips of audited change %d", i+1)
		// The COMMIT joins the entries' batch: one statement each and it.
		require.Equal(t, plainStatements+int64(n)+1, statements, "batched statements of audited change %d", i+1)
	}

	var head int64
	require.NoError(t, postgres.ControlPool(ts).QueryRow(t.Context(),
		`SELECT seq FROM audit_heads WHERE tenant_id = $1`, acme.ID).Scan(&head))
	require.Equal(t, int64(5), head, "the control plane's copy of the head moved with the entries")
	rep := verifyTenant(t, log, acme)
	require.True(t, rep.OK(), rep.Problem)
	require.EqualValues(t, 5, rep.Entries)
	ids := make([]string, 0, 5)
	for _, ev := range events.published() {
		ids = append(ids, ev.ID)
	}
	require.Equal(t, []string{"1", "2", "3", "4", "5"}, ids, "each event carries its committed entry's id")
	requireChainStartsAtGenesis(t, ts, acme)
}

// A unit whose entry fails to append commits nothing: the COMMIT sent
// with it is skipped, and the unit's change is rolled back with it.
func TestAuditFailingEntryRollsTheChangeBack(t *testing.T) {
	t.Parallel()
	b, log := setupAudit(t)
	acme := b.create(t, "acme")
	audit(t, b.tenants, acme, 1)
	err := b.tenants.InTenant(t.Context(), acme, func(ctx context.Context, u *postgres.Unit) error {
		if _, err := u.Tx().Exec(ctx, `INSERT INTO projects (name) VALUES ('apollo')`); err != nil {
			return err
		}
		// Text Postgres cannot store (a NUL byte): it refuses the entry when
		// the pipeline runs, after the write.
		return u.Audit(ctx, "project.create", "project:x\x00y", nil, nil)
	})
	require.Error(t, err)
	require.Empty(t, names(listAll(t, b.tenants, acme)), "the change rolled back with its entry")
	events, err := log.EventsSince(t.Context(), acme, "0", 10)
	require.NoError(t, err)
	require.Len(t, events, 1)
	require.True(t, verifyTenant(t, log, acme).OK())
	audit(t, b.tenants, acme, 1)
	require.True(t, verifyTenant(t, log, acme).OK(), "the chain goes on after the failed entry")
}

// A change's entry commits with it: a unit that rolls back leaves no entry
// and no event; one that commits leaves exactly its entries, chained.
func TestAuditIsInTheChangesTransaction(t *testing.T) {
	t.Parallel()
	b, log := setupAudit(t)
	acme := b.create(t, "acme")
	audit(t, b.tenants, acme, 2)
	boom := errors.New("boom")
	err := b.tenants.InTenant(t.Context(), acme, func(ctx context.Context, u *postgres.Unit) error {
		require.NoError(t, u.Audit(ctx, "thing.delete", "thing:x", nil, nil))
		return boom
	})
	require.ErrorIs(t, err, boom)

	events, err := log.EventsSince(t.Context(), acme, "0", 10)
	require.NoError(t, err)
	require.Len(t, events, 2, "the rolled-back change left no entry")
	for i, ev := range events {
		require.Equal(t, strconv.Itoa(i+1), ev.ID)
		require.Equal(t, "thing.update", ev.Type)
		require.Equal(t, acme, ev.Tenant)
	}
	rep := verifyTenant(t, log, acme)
	require.True(t, rep.OK(), rep.Problem)
	require.EqualValues(t, 2, rep.Entries)

	// The next entry continues the chain where the rolled-back one would have.
	audit(t, b.tenants, acme, 1)
	events, err = log.EventsSince(t.Context(), acme, "2", 10)
	require.NoError(t, err)
	require.Len(t, events, 1)
	require.Equal(t, "3", events[0].ID)
}

// Concurrent changes in one tenant make one gapless chain.
func TestAuditConcurrentWritersMakeOneChain(t *testing.T) {
	t.Parallel()
	b, log := setupAudit(t)
	acme := b.create(t, "acme")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { audit(t, b.tenants, acme, 5) })
	}
	wg.Wait()
	rep := verifyTenant(t, log, acme)
	require.True(t, rep.OK(), rep.Problem)
	require.EqualValues(t, 40, rep.Entries)
	require.EqualValues(t, 40, rep.Head)
}

// Replay: events after an id, in order and bounded; an id the log does not
// have is a gap the client must resync over. A tenant sees only its own.
func TestAuditEventsSince(t *testing.T) {
	t.Parallel()
	b, log := setupAudit(t)
	acme, globex := b.create(t, "acme"), b.create(t, "globex")
	audit(t, b.tenants, acme, 5)
	audit(t, b.tenants, globex, 1)

	events, err := log.EventsSince(t.Context(), acme, "2", 2)
	require.NoError(t, err)
	require.Len(t, events, 2)
	require.Equal(t, []string{"3", "4"}, []string{events[0].ID, events[1].ID})
	require.Equal(t, "thing", events[0].TargetType)
	require.Equal(t, "2", events[0].TargetID)

	events, err = log.EventsSince(t.Context(), globex, "0", 10)
	require.NoError(t, err)
	require.Len(t, events, 1, "globex sees its own entry only")

	for _, id := range []string{"", "x", "-1", "6", "1e3"} {
		_, err = log.EventsSince(t.Context(), acme, id, 10)
		require.ErrorIs(t, err, postgres.ErrEventGap, "id %q", id)
	}
}

// Append-only, twice: the privileges (no role holds UPDATE, DELETE or
// TRUNCATE, not even the table's owner) and a trigger that refuses them
// even to a superuser.
func TestAuditIsAppendOnly(t *testing.T) {
	t.Parallel()
	b, _ := setupAudit(t)
	acme := b.create(t, "acme")
	audit(t, b.tenants, acme, 2)
	changes := []string{
		`UPDATE audit_entries SET action = 'forged'`,
		`DELETE FROM audit_entries`,
		`TRUNCATE audit_entries`,
	}

	// The app's own role.
	for _, sql := range changes {
		err := b.tenants.InTenantTx(t.Context(), acme, func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, sql)
			return err
		})
		requirePermissionDenied(t, err, sql)
	}

	// A role that owns the table but is no superuser: the privileges hold
	// even for the owner.
	for _, sql := range changes {
		err := asOwner(t, b, acme, func(ctx context.Context, tx pgx.Tx) error {
			probe := pgx.Identifier{"audit_probe_" + strings.ToLower(rand.Text()[:10])}.Sanitize()
			if _, err := tx.Exec(ctx, `CREATE ROLE `+probe+` NOLOGIN`); err != nil {
				return err
			}
			var schema string
			if err := tx.QueryRow(ctx, `SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
				WHERE c.oid = 'audit_entries'::regclass`).Scan(&schema); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `GRANT USAGE ON SCHEMA `+pgx.Identifier{schema}.Sanitize()+` TO `+probe+`;
				ALTER TABLE audit_entries OWNER TO `+probe+`;
				SET LOCAL ROLE `+probe); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, sql)
			return err
		})
		requirePermissionDenied(t, err, sql)
	}

	// A superuser holds every privilege: the trigger refuses it.
	for _, sql := range changes {
		err := asOwner(t, b, acme, func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, sql)
			return err
		})
		require.ErrorContains(t, err, "append-only", sql)
	}
}

func requirePermissionDenied(t *testing.T, err error, sql string) {
	t.Helper()
	pgErr, ok := errors.AsType[*pgconn.PgError](err)
	require.True(t, ok, "%s: %v", sql, err)
	require.Equal(t, "42501", pgErr.Code, sql)
	require.Contains(t, pgErr.Message, "permission denied", sql)
}

// Verify finds the first broken link after any edit, deletion, insertion
// or reordering, and a log whose newest entries were cut off.
func TestAuditVerifyFindsTampering(t *testing.T) {
	t.Parallel()
	b, log := setupAudit(t)
	tests := []struct {
		name     string
		sql      string
		brokenAt int64
	}{
		{"edit", `UPDATE audit_entries SET action = 'forged' WHERE ` + scope + ` AND seq = 3`, 3},
		{"delete", `DELETE FROM audit_entries WHERE ` + scope + ` AND seq = 2`, 2},
		// A forged entry 3, its own hash computed right, linked to entry 2,
		// with the entries from 3 on moved up one: the next no longer follows.
		{"insert", `UPDATE audit_entries SET seq = seq + 100 WHERE ` + scope + ` AND seq >= 3;
			UPDATE audit_entries SET seq = seq - 99 WHERE ` + scope + ` AND seq > 100`, 4},
		{"reorder", `UPDATE audit_entries SET seq = seq + 1000 WHERE ` + scope + ` AND seq IN (2, 3);
			UPDATE audit_entries SET seq = CASE seq WHEN 1002 THEN 3 ELSE 2 END WHERE ` + scope + ` AND seq IN (1002, 1003)`, 2},
		{"cut off the newest", `DELETE FROM audit_entries WHERE ` + scope + ` AND seq > 3;
			UPDATE audit_chain SET (seq, hash) = (SELECT seq, hash FROM audit_entries WHERE ` + scope + ` AND seq = 3) WHERE ` + scope, 4},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tn := b.create(t, "tamper-"+strconv.Itoa(i))
			audit(t, b.tenants, tn, 5)
			rep := verifyTenant(t, log, tn)
			require.True(t, rep.OK(), rep.Problem)

			tamper(t, b, tn, tt.sql)
			if tt.name == "insert" {
				insertForged(t, b, tn)
			}
			rep = verifyTenant(t, log, tn)
			require.False(t, rep.OK(), "verify finds the %s", tt.name)
			require.Equal(t, tt.brokenAt, rep.BrokenAt, rep.Problem)
		})
	}
}

// insertForged inserts a well-formed entry 3 after entry 2, its hash
// computed over its content and entry 2's hash, as a forger would.
func insertForged(t *testing.T, b *tenantsBundle, tn domain.Tenant) {
	t.Helper()
	require.NoError(t, asOwner(t, b, tn, func(ctx context.Context, tx pgx.Tx) error {
		var prev []byte
		if err := tx.QueryRow(ctx, `SELECT hash FROM audit_entries WHERE `+scope+` AND seq = 2`).Scan(&prev); err != nil {
			return err
		}
		forged := postgres.ForgeAuditEntry(tn.ID, 3, prev)
		_, err := tx.Exec(ctx, `INSERT INTO audit_entries (seq, at, action, target_type, target_id, user_id, api_key_id,
			request_id, ip, user_agent, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, '', '', '', '', '', $6, $7)`,
			forged.Seq, forged.At, forged.Action, forged.TargetType, forged.TargetID, forged.PrevHash, forged.Hash)
		return err
	}))
}

// Pruning deletes the oldest entries and moves the chain's anchor: the
// chain still verifies, replay before the anchor is a gap, and the log is
// as append-only as before.
func TestAuditPruneKeepsTheChainVerifiable(t *testing.T) {
	t.Parallel()
	b, log := setupAudit(t)
	acme := b.create(t, "acme")
	audit(t, b.tenants, acme, 3)
	time.Sleep(10 * time.Millisecond)
	cutoff := time.Now()
	time.Sleep(10 * time.Millisecond)
	audit(t, b.tenants, acme, 2)

	n, err := log.Prune(t.Context(), acme, cutoff)
	require.NoError(t, err)
	require.EqualValues(t, 4, n, "3 of acme's entries and its tenant.create")
	rep := verifyTenant(t, log, acme)
	require.True(t, rep.OK(), rep.Problem)
	require.EqualValues(t, 2, rep.Entries)
	require.EqualValues(t, 5, rep.Head)

	_, err = log.EventsSince(t.Context(), acme, "1", 10)
	require.ErrorIs(t, err, postgres.ErrEventGap, "entry 2 was pruned")
	events, err := log.EventsSince(t.Context(), acme, "3", 10)
	require.NoError(t, err)
	require.Len(t, events, 2)

	n, err = log.Prune(t.Context(), acme, cutoff)
	require.NoError(t, err)
	require.Zero(t, n, "nothing more to prune")
	audit(t, b.tenants, acme, 1)
	rep = verifyTenant(t, log, acme)
	require.True(t, rep.OK(), rep.Problem)
	require.EqualValues(t, 6, rep.Head)

	// The owner's DELETE was for the pruning transaction only.
	err = asOwner(t, b, acme, func(ctx context.Context, tx pgx.Tx) error {
		var may, super bool
		if qErr := tx.QueryRow(ctx, `SELECT has_table_privilege(c.relowner, c.oid, 'DELETE'), r.rolsuper
			FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner WHERE c.oid = 'audit_entries'::regclass`).Scan(&may, &super); qErr != nil {
			return qErr
		}
		require.True(t, super || !may, "the owner holds no DELETE")
		_, execErr := tx.Exec(ctx, `DELETE FROM audit_entries`)
		return execErr
	})
	require.ErrorContains(t, err, "append-only", "the trigger refuses a DELETE outside pruning")
}

// The retention job prunes every tenant's chains and the control plane's
// chain of no tenant, and leaves each verifiable; without a retention it
// deletes nothing.
func TestAuditPruneJobPrunesEveryChain(t *testing.T) {
	t.Parallel()
	b, log := setupAudit(t)
	acme, globex := b.create(t, "acme"), b.create(t, "globex")
	audit(t, b.tenants, acme, 3)
	audit(t, b.tenants, globex, 2)

	keep := log.PruneJob(0)
	require.NoError(t, keep(t.Context(), nil, &jobs.Delivery[postgres.AuditPruneArgs]{}))
	events, err := log.EventsSince(t.Context(), acme, "0", 10)
	require.NoError(t, err)
	require.Len(t, events, 3, "no retention keeps every entry")

	time.Sleep(10 * time.Millisecond)
	prune := log.PruneJob(5 * time.Millisecond)
	require.NoError(t, prune(t.Context(), nil, &jobs.Delivery[postgres.AuditPruneArgs]{}))
	for _, tn := range []domain.Tenant{acme, globex} {
		_, err = log.EventsSince(t.Context(), tn, "0", 10)
		require.ErrorIs(t, err, postgres.ErrEventGap, "%s's entries were pruned", tn.Slug)
		reports, err := log.Verify(t.Context(), tn)
		require.NoError(t, err)
		for _, rep := range reports {
			require.True(t, rep.OK(), "%s %s chain: %s", tn.Slug, rep.Plane, rep.Problem)
			require.Zero(t, rep.Entries, "%s %s chain pruned to its head", tn.Slug, rep.Plane)
		}
	}
	audit(t, b.tenants, acme, 1)
	rep := verifyTenant(t, log, acme)
	require.True(t, rep.OK(), rep.Problem)
	require.EqualValues(t, 1, rep.Entries, "the chain goes on from the pruned head")
}

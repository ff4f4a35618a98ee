package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/require"

	"ledger.internal/svc/internal/config"
	"ledger.internal/svc/internal/domain"
	"ledger.internal/svc/internal/jobs"
	"ledger.internal/svc/internal/postgres"
	"ledger.internal/svc/internal/postgres/tenantdb"
	"ledger.internal/svc/internal/testsvc"
)

// These tests run jobs the way the worker of the application does: inside
// jobs.TenantsScope, on a database migrated as `migrate` leaves it, with
// the job client on the app's own connection (database mode).

// tenancyBundle is a testBundle on a tenancy environment, with the tenant
// registry and one project in each of its two tenants.
type tenancyBundle struct {
	testBundle
	cfg      config.Database
	tenants  *postgres.Tenants
	a, b     domain.Tenant
	projectA tenantdb.Project
	projectB tenantdb.Project
}

func setupTenancy(tb testing.TB) *tenancyBundle {
	tb.Helper()
	ctx := tb.Context()
	requireBroker(tb)
	cfg := testsvc.NewTenancyConfig(tb)
	// As the worker sizes it: a connection per running job (the
	// benchmarks run 20). The job queue's schema before the tenant tables,
	// whose migration grants the app's role access to it in row mode.
	tenants := testsvc.MigratedTenants(tb, cfg, postgres.TenantsOptions{MaxConnsAtLeast: 24}, prepareBroker)

	pool, err := postgres.Open(ctx, cfg.URL, "test", postgres.MinMaxConns(16))
	require.NoError(tb, err)
	tb.Cleanup(pool.Close)
	b := &tenancyBundle{
		testBundle: testBundle{dbURL: cfg.URL, pool: pool, name: randomName("t"), queue: randomName("q")},
		cfg:        cfg,
		tenants:    tenants,
	}
	for _, slug := range []string{"tenant-a", "tenant-b"} {
		t, createErr := tenants.Create(ctx, slug, "Tenant "+slug)
		require.NoError(tb, createErr)
		var p tenantdb.Project
		require.NoError(tb, tenants.InTenant(ctx, t, func(ctx context.Context, u *postgres.Unit) error {
			p, createErr = u.Queries.CreateProject(ctx, pgtype.Text{String: "project of " + slug, Valid: true})
			return createErr
		}))
		if slug == "tenant-a" {
			b.a, b.projectA, b.tenantA = t, p, jobs.Tenant{ID: t.ID, Slug: t.Slug}
		} else {
			b.b, b.projectB, b.tenantB = t, p, jobs.Tenant{ID: t.ID, Slug: t.Slug}
		}
	}
	b.openClient(tb, testLogger(tb))
	return b
}

// startScopedWorker runs a worker with the application's scope and the
// given handlers, on the test queue and the default one.
func (b *tenancyBundle) startScopedWorker(tb testing.TB, register func(*jobs.Registry)) {
	tb.Helper()
	r := jobs.NewRegistry()
	register(r)
	b.startWorker(tb, func(c *jobs.WorkerConfig) {
		c.Registry = r
		c.Scope = jobs.TenantsScope(b.pool, b.tenants)
		c.Queues = map[string]int{b.queue: 2, jobs.QueueDefault: 2}
	})
}

// projectNames returns the names of t's projects, read through the tenant API.
func (b *tenancyBundle) projectNames(tb testing.TB, t domain.Tenant) []string {
	tb.Helper()
	var names []string
	require.NoError(tb, b.tenants.InTenantTx(context.WithoutCancel(tb.Context()), t, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT name FROM projects ORDER BY name`)
		if err != nil {
			return err
		}
		names, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	}))
	return names
}

// vandalArgs is a job that tries to reach other tenants' rows from its own
// tenant's transaction.
type vandalArgs struct {
	VictimTenant   string `json:"victim_tenant"`
	VictimDatabase string `json:"victim_database"`
	VictimProject  string `json:"victim_project"`
}

func (vandalArgs) Kind() string { return "test.vandal" }

// vandalReport is what a vandal job managed.
type vandalReport struct {
	seen, updated, deleted int64
	crossErr               error // what naming the victim's database got
}

// vandalReports holds each vandal job's report, by job key.
var vandalReports sync.Map

func vandalHandler(ctx context.Context, tx pgx.Tx, d *jobs.Delivery[vandalArgs]) error {
	var r vandalReport
	tag, err := tx.Exec(ctx, `UPDATE projects SET name = 'vandalised by ' || $1`, d.Tenant.Slug)
	if err != nil {
		return err
	}
	r.updated = tag.RowsAffected()
	if tag, err = tx.Exec(ctx, `DELETE FROM projects WHERE id = $1`, d.Args.VictimProject); err != nil {
		return err
	}
	r.deleted = tag.RowsAffected()
	// Name the victim's database: Postgres has no cross-database queries.
	r.crossErr = pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error {
		_, err := sp.Exec(ctx, `UPDATE `+pgx.Identifier{d.Args.VictimDatabase, "public", "projects"}.Sanitize()+` SET name = 'stolen'`)
		return err
	})
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM projects`).Scan(&r.seen); err != nil {
		return err
	}
	vandalReports.Store(d.Key, r)
	return nil
}

// TestJobForTenantACannotTouchTenantB runs a job of tenant A that tries to
// update and delete every tenant's rows, and to name B's database.
func TestJobForTenantACannotTouchTenantB(t *testing.T) {
	t.Parallel()
	b := setupTenancy(t)
	key := randomName("vandal-")
	b.enqueue(t, jobs.Job{
		Tenant:  b.tenantA,
		Args:    vandalArgs{VictimTenant: b.b.ID, VictimDatabase: b.cfg.TenantDatabasePrefix + b.b.Slug, VictimProject: b.projectB.ID.String()},
		Options: jobs.Options{Queue: b.queue, Key: key},
	})
	b.startScopedWorker(t, func(r *jobs.Registry) { jobs.Handle(r, vandalHandler) })
	var report vandalReport
	waitFor(t, 15*time.Second, func() bool {
		v, ok := vandalReports.Load(key)
		if !ok {
			return false
		}
		report, ok = v.(vandalReport)
		return ok
	}, "the job ran")

	require.EqualValues(t, 1, report.seen, "it saw only its tenant's project")
	require.EqualValues(t, 1, report.updated, "it updated only its tenant's project")
	require.EqualValues(t, 0, report.deleted, "B's project was out of its reach")
	// Postgres refuses any name in another database as feature_not_supported
	// (0A000): there are no cross-database queries to make.
	pgErr, ok := errors.AsType[*pgconn.PgError](report.crossErr)
	require.True(t, ok, "B's database is out of reach by name: %v", report.crossErr)
	require.Equal(t, "0A000", pgErr.Code, "%v", report.crossErr)
	require.Contains(t, pgErr.Message, "cross-database references")
	// The report is made inside the job's transaction: its update is
	// visible once that commits.
	waitFor(t, 5*time.Second, func() bool {
		return slices.Equal([]string{"vandalised by tenant-a"}, b.projectNames(t, b.a))
	}, "the job's own update committed")
	require.Equal(t, []string{"project of tenant-b"}, b.projectNames(t, b.b), "tenant B's project is untouched and still there")
}

// TestScopeRefusesAJobWhoseTenantIsGone: a job names its tenant by id and
// slug; when they no longer name the same active tenant it fails, without
// running, instead of running in whatever the slug names now; and it is
// discarded at once, not retried, however many attempts it had left.
func TestScopeRefusesAJobWhoseTenantIsGone(t *testing.T) {
	t.Parallel()
	b := setupTenancy(t)
	forged := b.enqueue(t, jobs.Job{
		Tenant:  jobs.Tenant{ID: b.b.ID, Slug: b.a.Slug},
		Args:    vandalArgs{},
		Options: jobs.Options{Queue: b.queue, Key: "forged"},
	})
	gone := b.enqueue(t, jobs.Job{
		Tenant:  jobs.Tenant{ID: jobs.NewID(), Slug: "deleted-tenant"},
		Args:    vandalArgs{},
		Options: jobs.Options{Queue: b.queue, Key: "gone"},
	})
	b.startScopedWorker(t, func(r *jobs.Registry) { jobs.Handle(r, vandalHandler) })

	var discarded []jobs.Info
	waitFor(t, 15*time.Second, func() bool {
		var err error
		discarded, err = b.client.List(t.Context(), jobs.Query{State: jobs.StateDiscarded, Limit: 100})
		require.NoError(t, err)
		return hasJob(discarded, forged.ID) && hasJob(discarded, gone.ID)
	}, "both jobs failed and were discarded")
	require.Regexp(t, `^permanent failure: .*tenant tenant-a is no longer the tenant`, findJob(discarded, forged.ID).LastError)
	require.Regexp(t, `^permanent failure: tenant deleted-tenant: .*no tenant "deleted-tenant"`, findJob(discarded, gone.ID).LastError)
	for _, key := range []string{"forged", "gone"} {
		_, ran := vandalReports.Load(key)
		require.False(t, ran, "the handler of %q never ran", key)
	}
	require.Equal(t, []string{"project of tenant-a"}, b.projectNames(t, b.a))
}

// TestSuspendedTenantsJobsWait: a suspended tenant's job does not run, and is
// not discarded either: it is retried until the tenant is resumed, then runs.
// The suspension is made unheard (no notification clears the worker's
// resolve cache, which still holds the tenant): the scope reads the
// tenant afresh.
func TestSuspendedTenantsJobsWait(t *testing.T) {
	t.Parallel()
	b := setupTenancy(t)
	testsvc.WaitListening(t, b.cfg, b.tenants, b.b.Slug)
	_, err := b.tenants.Resolve(t.Context(), b.a.Slug)
	require.NoError(t, err)
	testsvc.SuspendUnheard(t, b.cfg, b.a.Slug)
	_, err = b.tenants.Resolve(t.Context(), b.a.Slug)
	require.NoError(t, err, "the registry has not heard of the suspension")
	job := b.enqueue(t, jobs.Job{Tenant: b.tenantA, Args: keyedArgs{Name: "after the suspension"}, Options: jobs.Options{Queue: b.queue, Key: "held"}})
	b.startScopedWorker(t, func(r *jobs.Registry) { jobs.Handle(r, keyedHandler) })

	waitFor(t, 15*time.Second, func() bool {
		failed, listErr := b.client.List(t.Context(), jobs.Query{State: jobs.StateFailed, Limit: 100})
		require.NoError(t, listErr)
		return strings.Contains(findJob(failed, job.ID).LastError, "tenant tenant-a is suspended")
	}, "the job failed because its tenant is suspended, and waits for a retry")
	discarded, err := b.client.List(t.Context(), jobs.Query{State: jobs.StateDiscarded, Limit: 100})
	require.NoError(t, err)
	require.False(t, hasJob(discarded, job.ID), "a suspended tenant's job is not discarded")

	_, err = b.tenants.Resume(t.Context(), b.a.Slug)
	require.NoError(t, err)
	waitFor(t, 30*time.Second, func() bool {
		return slices.Contains(b.projectNames(t, b.a), "after the suspension")
	}, "the job ran once its tenant was resumed")
}

// keyedArgs is a job that adds a project to its tenant.
type keyedArgs struct {
	Name string `json:"name"`
}

func (keyedArgs) Kind() string { return "test.keyed" }

func keyedHandler(ctx context.Context, tx pgx.Tx, d *jobs.Delivery[keyedArgs]) error {
	_, err := jobs.TenantQueries(tx).CreateProject(ctx, pgtype.Text{String: d.Args.Name, Valid: true})
	return err
}

// TestTenantJobsKeyCommitsWithTheirEffect: a tenant's job writes its effect
// and its idempotency key in the same tenant-scoped transaction, so the
// same key enqueued again has no second effect.
func TestTenantJobsKeyCommitsWithTheirEffect(t *testing.T) {
	t.Parallel()
	b := setupTenancy(t)
	b.startScopedWorker(t, func(r *jobs.Registry) { jobs.Handle(r, keyedHandler) })
	job := jobs.Job{Tenant: b.tenantA, Args: keyedArgs{Name: "from a job"}, Options: jobs.Options{Queue: b.queue, Key: "order-42"}}
	first := b.enqueue(t, job)
	waitFor(t, 15*time.Second, func() bool { return len(b.projectNames(t, b.a)) == 2 }, "the job added its project")
	waitFor(t, 15*time.Second, func() bool { return jobGone(t, &b.testBundle, first.ID) }, "the first job completed")

	b.enqueue(t, job)
	b.enqueue(t, jobs.Job{Tenant: b.tenantA, Args: keyedArgs{Name: "z marker"}, Options: jobs.Options{Queue: b.queue}})
	waitFor(t, 15*time.Second, func() bool { return len(b.projectNames(t, b.a)) >= 3 }, "a later job ran")
	require.Equal(t, []string{"from a job", "project of tenant-a", "z marker"}, b.projectNames(t, b.a),
		"the second job with the first's key had no effect")
	require.Equal(t, []string{"project of tenant-b"}, b.projectNames(t, b.b))

	var keys int
	require.NoError(t, b.tenants.InTenantTx(t.Context(), b.a, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT count(*) FROM public.job_processed WHERE tenant_id = $1 AND key = 'order-42'`, b.a.ID).Scan(&keys)
	}))
	require.Equal(t, 1, keys, "the key is where the tenant's transaction writes")
}

// unitArgs is a job whose handler works through its tenant's unit of work.
type unitArgs struct{}

func (unitArgs) Kind() string { return "test.unit" }

// TestHandlerGetsItsTenantsUnitOfWork: a tenant's handler reaches the unit
// of work of its transaction, the value a request's InTenant hands its
// function: confined to the job's tenant, enqueueing (into that tenant,
// without naming it) with the seams the tenants were given, and publishing
// its audit entry's event once the job's transaction has committed.
func TestHandlerGetsItsTenantsUnitOfWork(t *testing.T) {
	t.Parallel()
	b := setupTenancy(t)
	published := make(chan postgres.Event, 1)
	b.tenants.UseSeams(postgres.Seams{Jobs: b.client, Events: publisherFunc(func(e postgres.Event) { published <- e })})
	b.startScopedWorker(t, func(r *jobs.Registry) {
		jobs.Handle(r, keyedHandler)
		jobs.Handle(r, func(ctx context.Context, tx pgx.Tx, d *jobs.Delivery[unitArgs]) error {
			u, ok := postgres.UnitFrom(ctx)
			if !ok || u.Tx() != tx || u.Tenant().ID != d.Tenant.ID {
				return jobs.Permanent(errors.New("the handler's context has no unit of its transaction"))
			}
			if err := u.Audit(ctx, "test.unit.done", "job:"+d.Key, nil, nil); err != nil {
				return err
			}
			_, err := u.Enqueue(ctx, jobs.Job{Args: keyedArgs{Name: "via the unit"}, Options: jobs.Options{Queue: b.queue, Key: d.Key + ":follow-up"}})
			return err
		})
	})
	b.enqueue(t, jobs.Job{Tenant: b.tenantA, Args: unitArgs{}, Options: jobs.Options{Queue: b.queue}})
	waitFor(t, 15*time.Second, func() bool { return len(b.projectNames(t, b.a)) == 2 }, "the follow-up ran")
	require.Equal(t, []string{"project of tenant-a", "via the unit"}, b.projectNames(t, b.a))
	require.Equal(t, []string{"project of tenant-b"}, b.projectNames(t, b.b))
	select {
	case e := <-published:
		require.Equal(t, b.a, e.Tenant)
		require.Equal(t, "test.unit.done", e.Type)
	case <-time.After(5 * time.Second):
		t.Fatal("the job's event was not published after its commit")
	}
}

// publisherFunc adapts a function to postgres.Publisher.
type publisherFunc func(postgres.Event)

func (f publisherFunc) Publish(_ context.Context, e postgres.Event) { f(e) }

// TestPruneDeletesExpiredKeys: the daily maintenance job deletes job keys
// older than ProcessedRetention, in the control database and, through one job per
// tenant, in every tenant's database.
func TestPruneDeletesExpiredKeys(t *testing.T) {
	t.Parallel()
	b := setupTenancy(t)
	ctx := t.Context()
	const insertKeys = `INSERT INTO public.job_processed (tenant_id, kind, key, processed_at)
		VALUES ($1, 'test', 'expired', now() - interval '31 days'), ($1, 'test', 'recent', now() - interval '1 day')`
	_, err := b.pool.Exec(ctx, insertKeys, "")
	require.NoError(t, err)
	for _, tn := range []domain.Tenant{b.a, b.b} {
		require.NoError(t, b.tenants.InTenantTx(ctx, tn, func(ctx context.Context, tx pgx.Tx) error {
			_, err := tx.Exec(ctx, insertKeys, tn.ID)
			return err
		}))
	}
	keys := func(tn domain.Tenant) []string {
		var out []string
		read := func(ctx context.Context, tx pgx.Tx) error {
			rows, err := tx.Query(ctx, `SELECT key FROM public.job_processed WHERE kind = 'test' AND tenant_id = $1 ORDER BY key`, tn.ID)
			if err != nil {
				return err
			}
			out, err = pgx.CollectRows(rows, pgx.RowTo[string])
			return err
		}
		if tn.ID == "" {
			require.NoError(t, pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error { return read(ctx, tx) }))
		} else {
			require.NoError(t, b.tenants.InTenantTx(ctx, tn, read))
		}
		return out
	}

	b.startScopedWorker(t, func(r *jobs.Registry) {
		jobs.Handle(r, b.client.HandlePrune)
		jobs.Handle(r, jobs.HandlePruneTenant)
	})
	b.enqueue(t, jobs.PrunePeriodic.Job(time.Now()))
	var controlPlane domain.Tenant
	for _, tn := range []domain.Tenant{controlPlane, b.a, b.b} {
		waitFor(t, 20*time.Second, func() bool { return len(keys(tn)) == 1 }, fmt.Sprintf("the expired key of %q is gone", tn.Slug))
		require.Equal(t, []string{"recent"}, keys(tn), "the recent key of %q stays", tn.Slug)
	}
}

// TestScopePassesTheTransactionAndErrorsThrough calls the scope directly:
// fn runs confined to the tenant, its error comes back unchanged, and a
// tenant that does not match is refused before fn runs.
func TestScopePassesTheTransactionAndErrorsThrough(t *testing.T) {
	t.Parallel()
	b := setupTenancy(t)
	scope := jobs.TenantsScope(b.pool, b.tenants)
	errStop := errors.New("stop")
	err := scope(t.Context(), b.tenantA, func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT name FROM projects`)
		require.NoError(t, err)
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		require.Equal(t, []string{"project of tenant-a"}, names, "inside the scope the job sees its tenant's project only")
		return errStop
	})
	require.ErrorIs(t, err, errStop)

	called := false
	err = scope(t.Context(), jobs.Tenant{ID: b.b.ID, Slug: b.a.Slug}, func(context.Context, pgx.Tx) error {
		called = true
		return nil
	})
	require.False(t, called)
	require.Equal(t, domain.ENOTFOUND, domain.ErrorCode(err), "%v", err)
}

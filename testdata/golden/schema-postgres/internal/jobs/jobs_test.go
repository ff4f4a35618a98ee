package jobs_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"example.com/acme/internal/domain"
	"example.com/acme/internal/httpapi"
	"example.com/acme/internal/jobs"
	"example.com/acme/internal/logging"
	"example.com/acme/internal/postgres"
	"example.com/acme/internal/postgres/db"
	"example.com/acme/internal/testsvc"
)

// The crash tests kill a real worker process. That process is this test
// binary again: with childModeEnv set, TestMain runs a worker instead of
// the tests.
const childModeEnv = "JOBS_TEST_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(childModeEnv); mode != "" {
		if err := runChild(mode); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// testBundle is what each test gets: a fresh database with the migrations,
// a job client on its own broker namespace, a queue and two tenants.
type testBundle struct {
	dbURL   string
	pool    *pgxpool.Pool
	client  *jobs.Client
	name    string
	queue   string
	tenantA jobs.Tenant
	tenantB jobs.Tenant
}

// testTables record what handlers did: every run (outside the job's
// transaction) and every effect (inside it); switches steer handlers.
const testTables = `
CREATE TABLE runs (job_key text NOT NULL, note text NOT NULL, attempt int NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE TABLE effects (job_key text NOT NULL, tenant_id text NOT NULL, note text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE TABLE switches (note text PRIMARY KEY, fail bool NOT NULL DEFAULT false, hold bool NOT NULL DEFAULT false);
`

func setup(tb testing.TB) *testBundle {
	tb.Helper()
	ctx := tb.Context()
	requireBroker(tb)
	b := &testBundle{dbURL: testsvc.NewDatabase(tb), name: randomName("t"), queue: randomName("q")}
	pool, err := postgres.Open(ctx, b.dbURL, "test", postgres.MinMaxConns(16))
	require.NoError(tb, err)
	tb.Cleanup(pool.Close)
	b.pool = pool
	m, err := postgres.NewMigrator(pool)
	require.NoError(tb, err)
	_, err = m.Up(ctx)
	require.NoError(tb, err)
	require.NoError(tb, m.Close())
	require.NoError(tb, prepareBroker(ctx, pool))
	_, err = pool.Exec(ctx, testTables)
	require.NoError(tb, err)

	for _, slug := range []string{"tenant-a", "tenant-b"} {
		row, createErr := db.New(pool).InsertTenant(ctx, db.InsertTenantParams{Slug: slug, Name: slug})
		require.NoError(tb, createErr)
		tenant := jobs.Tenant{ID: row.ID.String(), Slug: row.Slug}
		if slug == "tenant-a" {
			b.tenantA = tenant
		} else {
			b.tenantB = tenant
		}
	}

	b.openClient(tb, testLogger(tb))
	return b
}

// openClient opens b.client, logging to logger, on b.pool and the test's
// broker namespace.
func (b *testBundle) openClient(tb testing.TB, logger *slog.Logger) {
	tb.Helper()
	cfg := jobs.Config{Pool: b.pool, Logger: logger, Name: b.name}
	closeBroker, err := brokerConfig(&cfg)
	require.NoError(tb, err)
	tb.Cleanup(closeBroker)
	b.client, err = jobs.Open(tb.Context(), cfg)
	require.NoError(tb, err)
	tb.Cleanup(func() { require.NoError(tb, b.client.Close()) })
	tb.Cleanup(func() { cleanupBroker(tb, b) })
}

func randomName(prefix string) string {
	return prefix + strings.ToLower(rand.Text()[:10])
}

// testLogger logs to the test's output when -v, warnings and up only.
func testLogger(tb testing.TB) *slog.Logger {
	tb.Helper()
	return slog.New(slog.NewTextHandler(tLog{tb}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tLog struct{ t testing.TB }

func (l tLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// effectArgs is the test job: it records its run, obeys its switches and
// writes one effect row in the job's transaction.
type effectArgs struct {
	Note string `json:"note"`
}

func (effectArgs) Kind() string { return "test.effect" }

// effectHandler handles effectArgs. In a child process, a job whose note
// starts with "crash-before-effect" blocks for good after recording its run:
// the test kills the process there.
func effectHandler(pool *pgxpool.Pool, inChild bool) jobs.Handler[effectArgs] {
	return func(ctx context.Context, tx pgx.Tx, d *jobs.Delivery[effectArgs]) error {
		if _, err := pool.Exec(ctx, `INSERT INTO runs (job_key, note, attempt) VALUES ($1, $2, $3)`,
			d.Key, d.Args.Note, d.Attempt); err != nil {
			return err
		}
		for {
			var fail, hold bool
			err := pool.QueryRow(ctx, `SELECT fail, hold FROM switches WHERE note = $1`, d.Args.Note).Scan(&fail, &hold)
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			if fail {
				return fmt.Errorf("%s fails on purpose", d.Args.Note)
			}
			if !hold {
				break
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
		}
		if inChild && strings.HasPrefix(d.Args.Note, "crash-before-effect") {
			select {} // the test kills this process here
		}
		_, err := tx.Exec(ctx, `INSERT INTO effects (job_key, tenant_id, note) VALUES ($1, $2, $3)`,
			d.Key, d.Tenant.ID, d.Args.Note)
		return err
	}
}

// fastBackoff keeps retry tests short: 200ms, 400ms, 600ms, ...
func fastBackoff(attempt int) time.Duration { return time.Duration(attempt) * 200 * time.Millisecond }

func testRegistry(pool *pgxpool.Pool, inChild bool) *jobs.Registry {
	r := jobs.NewRegistry()
	jobs.Handle(r, effectHandler(pool, inChild))
	return r
}

// workerConfig is the configuration test workers start from.
func (b *testBundle) workerConfig() jobs.WorkerConfig {
	return jobs.WorkerConfig{
		Registry:        testRegistry(b.pool, false),
		Queues:          map[string]int{b.queue: 4},
		Metrics:         jobs.NewMetrics(),
		ShutdownTimeout: 5 * time.Second,
		JobTimeout:      jobTimeout,
		Backoff:         fastBackoff,
		RescueAfter:     rescueAfter,
	}
}

// runningWorker is a worker running in the background until stop.
type runningWorker struct {
	cfg    jobs.WorkerConfig
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// startWorker runs a worker with the test configuration, changed by mods.
func (b *testBundle) startWorker(tb testing.TB, mods ...func(*jobs.WorkerConfig)) *runningWorker {
	tb.Helper()
	cfg := b.workerConfig()
	for _, mod := range mods {
		mod(&cfg)
	}
	w, err := jobs.NewWorker(b.client, cfg)
	require.NoError(tb, err)
	ctx, cancel := context.WithCancel(context.WithoutCancel(tb.Context()))
	rw := &runningWorker{cfg: cfg, cancel: cancel, done: make(chan error, 1)}
	go func() { rw.done <- w.Run(ctx) }()
	tb.Cleanup(func() { require.NoError(tb, rw.stop(tb)) })
	return rw
}

// stop cancels the worker, as SIGTERM does, and returns Run's error.
func (w *runningWorker) stop(tb testing.TB) error {
	tb.Helper()
	w.once.Do(func() {
		w.cancel()
		select {
		case w.err = <-w.done:
		case <-time.After(30 * time.Second):
			w.err = errors.New("worker did not stop within 30s")
		}
	})
	return w.err
}

// metrics returns what the worker's /metrics would serve.
func (w *runningWorker) metrics(tb testing.TB) string {
	tb.Helper()
	h := httpapi.NewMetricsHandler("", w.cfg.Metrics.Collectors()...)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequestWithContext(tb.Context(), http.MethodGet, "/metrics", nil))
	require.Equal(tb, http.StatusOK, rec.Code)
	return rec.Body.String()
}

// job returns an effect job for tenant A on the test queue.
func (b *testBundle) job(note string) jobs.Job {
	return jobs.Job{Tenant: b.tenantA, Args: effectArgs{Note: note}, Options: jobs.Options{Queue: b.queue}}
}

// enqueue enqueues job in a transaction of its own.
func (b *testBundle) enqueue(tb testing.TB, job jobs.Job) jobs.Enqueued {
	tb.Helper()
	var res jobs.Enqueued
	require.NoError(tb, pgx.BeginFunc(tb.Context(), b.pool, func(tx pgx.Tx) error {
		var err error
		res, err = b.client.Enqueue(tb.Context(), tx, job)
		return err
	}))
	return res
}

// count runs a count(*) query.
func (b *testBundle) count(tb testing.TB, sql string, args ...any) int {
	tb.Helper()
	var n int
	require.NoError(tb, b.pool.QueryRow(context.WithoutCancel(tb.Context()), sql, args...).Scan(&n))
	return n
}

func (b *testBundle) effects(tb testing.TB, note string) int {
	tb.Helper()
	return b.count(tb, `SELECT count(*) FROM effects WHERE note = $1`, note)
}

func (b *testBundle) runs(tb testing.TB, note string) int {
	tb.Helper()
	return b.count(tb, `SELECT count(*) FROM runs WHERE note = $1`, note)
}

func (b *testBundle) setSwitch(tb testing.TB, note string, fail, hold bool) {
	tb.Helper()
	_, err := b.pool.Exec(tb.Context(), `
		INSERT INTO switches (note, fail, hold) VALUES ($1, $2, $3)
		ON CONFLICT (note) DO UPDATE SET fail = excluded.fail, hold = excluded.hold`, note, fail, hold)
	require.NoError(tb, err)
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(tb testing.TB, timeout time.Duration, cond func() bool, what string) {
	tb.Helper()
	require.Eventually(tb, cond, timeout, 25*time.Millisecond, what)
}

func TestCommittedJobRunsOnceRolledBackJobNever(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()

	err := pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		if _, err := b.client.Enqueue(ctx, tx, b.job("rolled-back")); err != nil {
			return err
		}
		return errors.New("the business change failed")
	})
	require.Error(t, err)
	res := b.enqueue(t, b.job("committed"))
	require.NotEmpty(t, res.ID)
	require.False(t, res.Duplicate)

	rec := httptest.NewRecorder()
	httpapi.NewMetricsHandler("", b.client.DepthCollector(testLogger(t))).
		ServeHTTP(rec, httptest.NewRequestWithContext(ctx, http.MethodGet, "/metrics", nil))
	require.Regexp(t, fmt.Sprintf(`jobs_queue_depth\{queue=%q,state="\w+"\} 1`, b.queue), rec.Body.String(), "queue depth")

	w := b.startWorker(t)
	waitFor(t, 15*time.Second, func() bool { return b.effects(t, "committed") == 1 }, "the committed job runs")
	time.Sleep(time.Second) // time for a duplicate or a ghost to show up
	require.Equal(t, 1, b.runs(t, "committed"), "it runs once")
	require.Equal(t, 1, b.effects(t, "committed"))
	require.Equal(t, 0, b.runs(t, "rolled-back"), "a job enqueued in a rolled-back transaction never existed")
	require.Equal(t, 1, b.count(t, `SELECT count(*) FROM effects WHERE tenant_id = $1`, b.tenantA.ID), "the job ran for its tenant")

	text := w.metrics(t)
	require.Contains(t, text, fmt.Sprintf(`jobs_processed_total{kind="test.effect",queue=%q} 1`, b.queue))
	require.Contains(t, text, fmt.Sprintf(`jobs_wait_seconds_count{queue=%q} 1`, b.queue))
	require.Contains(t, text, fmt.Sprintf(`jobs_run_duration_seconds_count{kind="test.effect",queue=%q} 1`, b.queue))
}

// Every job the worker runs is logged when it starts and when it ends,
// with its kind, id, queue, tenant, attempt, outcome and duration.
func TestWorkerLogsEveryJob(t *testing.T) {
	t.Parallel()
	b := setup(t)
	logs := &lockedBuffer{}
	b.openClient(t, logging.New(logs, slog.LevelInfo, logging.JSON))
	b.setSwitch(t, "doomed", true, false)
	done := b.enqueue(t, b.job("fine"))
	doomedJob := b.job("doomed")
	doomedJob.MaxAttempts = 1
	doomed := b.enqueue(t, doomedJob)
	b.startWorker(t)

	type line struct {
		Msg        string   `json:"msg"`
		JobID      string   `json:"job_id"`
		JobKind    string   `json:"job_kind"`
		JobQueue   string   `json:"job_queue"`
		Tenant     string   `json:"tenant"`
		Attempt    int      `json:"attempt"`
		Outcome    string   `json:"outcome"`
		DurationMS *float64 `json:"duration_ms"`
	}
	jobLines := func(id string) []line {
		var out []line
		for raw := range strings.Lines(logs.String()) {
			var l line
			if json.Unmarshal([]byte(raw), &l) != nil {
				continue // the broker's own lines may spell job_id differently
			}
			if l.JobID == id {
				out = append(out, l)
			}
		}
		return out
	}
	waitFor(t, 15*time.Second, func() bool { return len(jobLines(done.ID)) == 2 && len(jobLines(doomed.ID)) == 2 }, "both jobs logged their start and end")
	for id, outcome := range map[string]string{done.ID: "done", doomed.ID: "discarded"} {
		lines := jobLines(id)
		require.Equal(t, "job started", lines[0].Msg)
		require.Empty(t, lines[0].Outcome)
		require.Equal(t, outcome, lines[1].Outcome, lines[1].Msg)
		require.NotNil(t, lines[1].DurationMS, "the end says how long it ran")
		for _, l := range lines {
			require.Equal(t, "test.effect", l.JobKind)
			require.Equal(t, b.queue, l.JobQueue)
			require.Equal(t, b.tenantA.String(), l.Tenant)
			require.Equal(t, 1, l.Attempt)
		}
	}
}

// List selects jobs by state (scheduled, pending, running, failed,
// discarded) and by kind, queue and tenant; the worker counts the jobs it
// is running.
func TestListByStateAndFilters(t *testing.T) {
	t.Parallel()
	b := setup(t)
	later := b.job("later")
	later.RunAt = time.Now().Add(time.Hour)
	scheduled := b.enqueue(t, later)
	b.setSwitch(t, "held", false, true)
	heldJob := b.job("held")
	heldJob.Tenant = b.tenantB
	held := b.enqueue(t, heldJob)

	ids := func(q jobs.Query) []string {
		t.Helper()
		q.Limit = max(q.Limit, 100)
		infos, err := b.client.List(t.Context(), q)
		require.NoError(t, err, "%+v", q)
		out := make([]string, 0, len(infos))
		for _, info := range infos {
			out = append(out, info.ID)
		}
		return out
	}
	require.Equal(t, []string{scheduled.ID}, ids(jobs.Query{State: jobs.StateScheduled}))
	require.Equal(t, []string{held.ID}, ids(jobs.Query{State: jobs.StatePending}), "due, and no worker yet")
	for _, q := range []jobs.Query{
		{State: jobs.StateScheduled, Kind: "test.effect", Queue: b.queue, Tenant: b.tenantA.Slug},
		{State: jobs.StatePending, Kind: "test.effect", Queue: b.queue, Tenant: b.tenantB.Slug},
	} {
		require.Len(t, ids(q), 1, "every filter matches: %+v", q)
	}
	for _, q := range []jobs.Query{
		{State: jobs.StateScheduled, Kind: "other.kind"},
		{State: jobs.StateScheduled, Queue: "elsewhere"},
		{State: jobs.StateScheduled, Tenant: b.tenantB.Slug},
		{State: jobs.StatePending, Tenant: "control-plane"},
		{State: jobs.StateFailed},
		{State: jobs.StateDiscarded},
	} {
		require.Empty(t, ids(q), "%+v", q)
	}

	w := b.startWorker(t)
	waitFor(t, 15*time.Second, func() bool { return b.runs(t, "held") == 1 }, "the held job starts")
	require.Contains(t, w.metrics(t), fmt.Sprintf(`jobs_running{kind="test.effect",queue=%q} 1`, b.queue))
	if listsRunning {
		waitFor(t, 5*time.Second, func() bool { return slices.Equal([]string{held.ID}, ids(jobs.Query{State: jobs.StateRunning})) }, "listed as running")
		require.Empty(t, ids(jobs.Query{State: jobs.StateRunning, Tenant: b.tenantA.Slug}))
		// The relay records a job published after the broker has it, so
		// a worker may start it a moment before its outbox row goes.
		waitFor(t, 15*time.Second, func() bool { return len(ids(jobs.Query{State: jobs.StatePending})) == 0 }, "no longer pending")
	} else {
		_, err := b.client.List(t.Context(), jobs.Query{State: jobs.StateRunning, Limit: 1})
		require.Equal(t, domain.EINVALID, domain.ErrorCode(err), "refused, saying why: %v", err)
		require.Equal(t, []string{held.ID}, ids(jobs.Query{State: jobs.StatePending}), "pending lists the running job too")
	}
	b.setSwitch(t, "held", false, false)
	waitFor(t, 15*time.Second, func() bool { return b.effects(t, "held") == 1 }, "the held job finishes")
	waitFor(t, 5*time.Second, func() bool {
		return strings.Contains(w.metrics(t), fmt.Sprintf(`jobs_running{kind="test.effect",queue=%q} 0`, b.queue))
	}, "no job running")
	require.Equal(t, []string{scheduled.ID}, ids(jobs.Query{State: jobs.StateScheduled}), "still waiting for its time")
}

// lockedBuffer is a log destination the worker's goroutines share with the
// test.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestUniqueJobs holds the broker to the UniqueKey contract (see Options):
// of 20 concurrent enqueues exactly one adds the job; a twin enqueued while
// it runs is a duplicate; once it has finished, enqueueing again runs a new
// job.
func TestUniqueJobs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.setSwitch(t, "unique", false, true) // the job holds once running

	job := b.job("unique")
	job.UniqueKey = "report-2026-11"
	var wg sync.WaitGroup
	results := make([]jobs.Enqueued, 20)
	errs := make([]error, 20)
	for i := range 20 {
		wg.Go(func() {
			errs[i] = pgx.BeginFunc(t.Context(), b.pool, func(tx pgx.Tx) error {
				var err error
				results[i], err = b.client.Enqueue(t.Context(), tx, job)
				return err
			})
		})
	}
	wg.Wait()
	var first jobs.Enqueued
	added := 0
	for i := range 20 {
		require.NoError(t, errs[i])
		if !results[i].Duplicate {
			first = results[i]
			added++
		}
	}
	require.Equal(t, 1, added, "one enqueue adds the job; the others are duplicates")
	for _, res := range results {
		require.Equal(t, first.ID, res.ID, "a duplicate names the job it duplicates")
	}

	b.startWorker(t)
	waitFor(t, 15*time.Second, func() bool { return b.runs(t, "unique") == 1 }, "the unique job starts")
	running := b.enqueue(t, job)
	require.True(t, running.Duplicate, "a twin of a running job is a duplicate")
	require.Equal(t, first.ID, running.ID)

	b.setSwitch(t, "unique", false, false)
	waitFor(t, 15*time.Second, func() bool { return b.effects(t, "unique") == 1 }, "the unique job finishes")
	// A broker records the end of a job just after its transaction commits;
	// until then an enqueue is a duplicate, which adds nothing.
	again := b.enqueueUntilAdded(t, job)
	require.NotEqual(t, first.ID, again.ID, "a new job")
	waitFor(t, 15*time.Second, func() bool { return b.effects(t, "unique") == 2 }, "the job enqueued again runs")
	require.Equal(t, 2, b.runs(t, "unique"), "each job ran once")
}

// TestDiscardedUniqueJobFreesItsKey: a unique job that failed for good is
// finished too, and enqueueing it again runs a new job.
func TestDiscardedUniqueJobFreesItsKey(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.setSwitch(t, "unique-discarded", true, false)
	job := b.job("unique-discarded")
	job.UniqueKey = "once"
	job.MaxAttempts = 1
	first := b.enqueue(t, job)
	require.False(t, first.Duplicate)
	b.startWorker(t)
	waitFor(t, 15*time.Second, func() bool {
		infos, err := b.client.List(t.Context(), jobs.Query{State: jobs.StateDiscarded, Limit: 100})
		return err == nil && hasJob(infos, first.ID)
	}, "the job is discarded")

	b.setSwitch(t, "unique-discarded", false, false)
	again := b.enqueueUntilAdded(t, job)
	require.NotEqual(t, first.ID, again.ID, "a new job")
	waitFor(t, 15*time.Second, func() bool { return b.effects(t, "unique-discarded") == 1 }, "the job enqueued again runs")
}

// TestCancelledUniqueJobFreesItsKey: a cancelled unique job is finished,
// and the next enqueue adds a new job at once.
func TestCancelledUniqueJobFreesItsKey(t *testing.T) {
	t.Parallel()
	b := setup(t)
	job := b.job("unique-cancelled")
	job.UniqueKey = "once"
	later := job
	later.RunAt = time.Now().Add(time.Hour)
	first := b.enqueue(t, later)
	require.True(t, b.enqueue(t, job).Duplicate, "a scheduled twin is a duplicate")
	require.NoError(t, b.client.Cancel(t.Context(), first.ID))

	again := b.enqueue(t, job)
	require.False(t, again.Duplicate, "the cancelled twin's key is free")
	b.startWorker(t)
	waitFor(t, 15*time.Second, func() bool { return b.effects(t, "unique-cancelled") == 1 }, "the job enqueued again runs")
}

// enqueueUntilAdded enqueues job until an enqueue is not a duplicate (its
// twin has finished) and returns that enqueue's result.
func (b *testBundle) enqueueUntilAdded(tb testing.TB, job jobs.Job) jobs.Enqueued {
	tb.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		res := b.enqueue(tb, job)
		if !res.Duplicate {
			return res
		}
		require.True(tb, time.Now().Before(deadline), "the unique key is still held 15s after its job finished")
		time.Sleep(25 * time.Millisecond)
	}
}

func TestRetriesBackoffDiscardAndRetry(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.setSwitch(t, "flaky", true, false)
	job := b.job("flaky")
	job.MaxAttempts = 3
	res := b.enqueue(t, job)
	w := b.startWorker(t)

	seenFailed := false
	waitFor(t, retryTimeout, func() bool {
		if !seenFailed {
			failed, err := b.client.List(t.Context(), jobs.Query{State: jobs.StateFailed, Limit: 100})
			require.NoError(t, err)
			seenFailed = hasJob(failed, res.ID)
		}
		discarded, err := b.client.List(t.Context(), jobs.Query{State: jobs.StateDiscarded, Limit: 100})
		require.NoError(t, err)
		return hasJob(discarded, res.ID)
	}, "the job is discarded after its last attempt")
	require.True(t, seenFailed, "between attempts the job is listed as failed")

	rows, err := b.pool.Query(t.Context(), `SELECT attempt, at FROM runs WHERE note = 'flaky' ORDER BY at`)
	require.NoError(t, err)
	type run struct {
		Attempt int
		At      time.Time
	}
	runs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[run])
	require.NoError(t, err)
	require.Len(t, runs, 3, "max attempts")
	for i, r := range runs {
		require.Equal(t, i+1, r.Attempt)
		if i > 0 {
			gap := r.At.Sub(runs[i-1].At)
			require.GreaterOrEqual(t, gap, fastBackoff(i)-50*time.Millisecond, "attempt %d waited out its backoff", r.Attempt)
		}
	}
	discarded, err := b.client.List(t.Context(), jobs.Query{State: jobs.StateDiscarded, Limit: 100})
	require.NoError(t, err)
	info := findJob(discarded, res.ID)
	require.Equal(t, "test.effect", info.Kind)
	require.Equal(t, b.queue, info.Queue)
	require.Equal(t, b.tenantA, info.Tenant)
	require.Contains(t, info.LastError, "flaky fails on purpose")

	text := w.metrics(t)
	require.Contains(t, text, fmt.Sprintf(`jobs_failed_total{kind="test.effect",queue=%q} 3`, b.queue))
	require.Contains(t, text, fmt.Sprintf(`jobs_retried_total{kind="test.effect",queue=%q} 2`, b.queue))
	require.Contains(t, text, fmt.Sprintf(`jobs_discarded_total{kind="test.effect",queue=%q} 1`, b.queue))

	// The cause is fixed; the operator retries the discarded job.
	b.setSwitch(t, "flaky", false, false)
	require.NoError(t, b.client.Retry(t.Context(), res.ID))
	waitFor(t, retryTimeout, func() bool { return b.effects(t, "flaky") == 1 }, "the retried job runs")
	discarded, err = b.client.List(t.Context(), jobs.Query{State: jobs.StateDiscarded, Limit: 100})
	require.NoError(t, err)
	require.False(t, hasJob(discarded, res.ID), "no longer discarded")
	require.Equal(t, domain.ENOTFOUND, domain.ErrorCode(b.client.Retry(t.Context(), missingID)))
}

// permanentArgs is a job whose handler fails permanently.
type permanentArgs struct{}

func (permanentArgs) Kind() string { return "test.permanent" }

// TestPermanentFailureIsDiscardedAtOnce: a handler returning
// jobs.Permanent is not retried, whatever attempts the job has left; the
// job is listed as discarded and an operator can still retry it.
func TestPermanentFailureIsDiscardedAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var runs atomic.Int32
	w := b.startWorker(t, func(c *jobs.WorkerConfig) {
		c.Registry = jobs.NewRegistry()
		jobs.Handle(c.Registry, func(context.Context, pgx.Tx, *jobs.Delivery[permanentArgs]) error {
			runs.Add(1)
			return jobs.Permanent(errors.New("these arguments can never work"))
		})
	})
	res := b.enqueue(t, jobs.Job{Tenant: b.tenantA, Args: permanentArgs{}, Options: jobs.Options{Queue: b.queue, MaxAttempts: 10}})

	var discarded []jobs.Info
	waitFor(t, 15*time.Second, func() bool {
		var err error
		discarded, err = b.client.List(t.Context(), jobs.Query{State: jobs.StateDiscarded, Limit: 100})
		require.NoError(t, err)
		return hasJob(discarded, res.ID)
	}, "the job is discarded after one attempt")
	require.True(t, strings.HasPrefix(findJob(discarded, res.ID).LastError, "permanent failure: these arguments can never work"), findJob(discarded, res.ID).LastError)
	time.Sleep(time.Second)
	require.EqualValues(t, 1, runs.Load(), "never retried")
	failed, err := b.client.List(t.Context(), jobs.Query{State: jobs.StateFailed, Limit: 100})
	require.NoError(t, err)
	require.False(t, hasJob(failed, res.ID))
	require.Contains(t, w.metrics(t), fmt.Sprintf(`jobs_discarded_total{kind="test.permanent",queue=%q} 1`, b.queue))

	require.NoError(t, b.client.Retry(t.Context(), res.ID))
	waitFor(t, 15*time.Second, func() bool { return runs.Load() == 2 }, "an operator's retry runs it again")
}

func hasJob(infos []jobs.Info, id string) bool {
	return findJob(infos, id).ID != ""
}

func findJob(infos []jobs.Info, id string) jobs.Info {
	for i := range infos {
		if infos[i].ID == id {
			return infos[i]
		}
	}
	return jobs.Info{}
}

func TestScheduledJobsAndCancel(t *testing.T) {
	t.Parallel()
	b := setup(t)

	runAt := time.Now().Add(2 * time.Second)
	kept := b.job("scheduled")
	kept.RunAt = runAt
	b.enqueue(t, kept)
	dropped := b.job("cancelled")
	dropped.RunAt = runAt
	res := b.enqueue(t, dropped)
	require.NoError(t, b.client.Cancel(t.Context(), res.ID))
	require.Equal(t, domain.ENOTFOUND, domain.ErrorCode(b.client.Cancel(t.Context(), missingID)))

	b.startWorker(t)
	waitFor(t, retryTimeout, func() bool { return b.effects(t, "scheduled") == 1 }, "the scheduled job runs")
	var ranAt time.Time
	require.NoError(t, b.pool.QueryRow(t.Context(), `SELECT at FROM runs WHERE note = 'scheduled'`).Scan(&ranAt))
	require.False(t, ranAt.Before(runAt), "not before its time")
	time.Sleep(time.Second)
	require.Equal(t, 0, b.runs(t, "cancelled"), "a cancelled job never runs")
}

func TestGracefulShutdownFinishesRunningJobs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	notes := []string{"slow-1", "slow-2", "slow-3"}
	for _, n := range notes {
		b.setSwitch(t, n, false, true)
		b.enqueue(t, b.job(n))
	}
	w := b.startWorker(t)
	waitFor(t, 15*time.Second, func() bool {
		return b.count(t, `SELECT count(*) FROM runs WHERE note LIKE 'slow-%'`) == 3
	}, "all three jobs are running")

	stopped := make(chan error, 1)
	go func() { stopped <- w.stop(t) }()
	time.Sleep(300 * time.Millisecond) // SIGTERM arrived; the jobs are still running
	for _, n := range notes {
		b.setSwitch(t, n, false, false)
	}
	require.NoError(t, <-stopped)
	for _, n := range notes {
		require.Equal(t, 1, b.effects(t, n), "%s finished during the shutdown", n)
	}
}

func TestShutdownTimeoutReturnsJobsToTheQueue(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.setSwitch(t, "stuck", false, true)
	b.enqueue(t, b.job("stuck"))
	w := b.startWorker(t, func(c *jobs.WorkerConfig) { c.ShutdownTimeout = 300 * time.Millisecond })
	waitFor(t, 15*time.Second, func() bool { return b.runs(t, "stuck") == 1 }, "the job is running")

	start := time.Now()
	require.NoError(t, w.stop(t))
	require.Less(t, time.Since(start), 10*time.Second, "shutdown is bounded")
	require.Equal(t, 0, b.effects(t, "stuck"), "the job was cut short")

	b.setSwitch(t, "stuck", false, false)
	b.startWorker(t)
	waitFor(t, retryTimeout, func() bool { return b.effects(t, "stuck") == 1 }, "the job went back to the queue and runs on the next worker")
}

func TestPeriodicJobsFireOncePerSlot(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tick := jobs.PeriodicJob{
		Name:     "tick",
		Schedule: "@every 1s",
		Job: func(slot time.Time) jobs.Job {
			return b.job("tick " + slot.UTC().Format(time.RFC3339))
		},
	}
	periodic := func(c *jobs.WorkerConfig) { c.Periodic = []jobs.PeriodicJob{tick} }
	// Two workers run the same schedule, as two replicas would.
	first := b.startWorker(t, periodic)
	second := b.startWorker(t, periodic)
	waitFor(t, retryTimeout, func() bool {
		return b.count(t, `SELECT count(DISTINCT note) FROM effects WHERE note LIKE 'tick %'`) >= 3
	}, "three slots fired")
	require.NoError(t, first.stop(t))
	require.NoError(t, second.stop(t))
	require.Equal(t, 0, b.count(t, `SELECT count(*) FROM (SELECT note FROM runs WHERE note LIKE 'tick %' GROUP BY note HAVING count(*) > 1) dup`),
		"no slot ran twice")

	bad := jobs.PeriodicJob{Name: "bad", Schedule: "every tuesday"}
	_, err := jobs.NewWorker(b.client, jobs.WorkerConfig{
		Registry: jobs.NewRegistry(), Queues: map[string]int{b.queue: 1}, Periodic: []jobs.PeriodicJob{bad},
	})
	require.ErrorContains(t, err, `periodic job "bad"`)
}

func TestEnqueueRefusesBadJobs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for name, job := range map[string]jobs.Job{
		"no args":          {Tenant: b.tenantA},
		"bad queue":        {Args: effectArgs{}, Options: jobs.Options{Queue: "no spaces"}},
		"half a tenant":    {Args: effectArgs{}, Tenant: jobs.Tenant{ID: b.tenantA.ID}},
		"upper-case queue": {Args: effectArgs{}, Options: jobs.Options{Queue: "Mail"}},
	} {
		err := pgx.BeginFunc(t.Context(), b.pool, func(tx pgx.Tx) error {
			_, err := b.client.Enqueue(t.Context(), tx, job)
			return err
		})
		require.Equal(t, domain.EINVALID, domain.ErrorCode(err), name)
	}
}

func TestWorkerConfigIsValidated(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for name, cfg := range map[string]jobs.WorkerConfig{
		"no registry":  {Queues: map[string]int{"default": 1}},
		"no queues":    {Registry: jobs.NewRegistry()},
		"zero workers": {Registry: jobs.NewRegistry(), Queues: map[string]int{"default": 0}},
	} {
		_, err := jobs.NewWorker(b.client, cfg)
		require.Error(t, err, name)
	}
}

func TestBackoffGrowsExponentiallyWithJitter(t *testing.T) {
	t.Parallel()
	for attempt, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 5: 16 * time.Second, 30: time.Hour} {
		got := jobs.Backoff(attempt)
		require.InDelta(t, float64(want), float64(got), float64(want)/10+1, "attempt %d", attempt)
	}
}

func TestHandleRefusesTheSameKindTwice(t *testing.T) {
	t.Parallel()
	r := jobs.NewRegistry()
	jobs.Handle(r, vandalHandler)
	require.Panics(t, func() { jobs.Handle(r, vandalHandler) })
	require.Equal(t, []string{"test.vandal"}, r.Kinds())
}

// TestCrashedWorkerProcess kills a worker process (SIGKILL, no chance to
// clean up) in the middle of two jobs: one that had not written its
// effect yet, and one whose transaction had committed but whose
// acknowledgement had not reached the broker. Another worker takes both
// over; each effect happens once.
func TestCrashedWorkerProcess(t *testing.T) {
	t.Parallel()
	b := setup(t)
	before := b.enqueue(t, b.job("crash-before-effect"))
	after := b.enqueue(t, b.job("crash-after-commit"))

	child, out := startChild(t, b, "worker")
	waitFor(t, 30*time.Second, func() bool {
		return b.runs(t, "crash-before-effect") == 1 && b.runs(t, "crash-after-commit committed") == 1
	}, "the child is in the middle of both jobs")
	require.NoError(t, child.Process.Kill())
	_ = child.Wait()
	t.Logf("child output:\n%s", out)
	require.Equal(t, 0, b.effects(t, "crash-before-effect"))
	require.Equal(t, 1, b.effects(t, "crash-after-commit"))

	time.Sleep(crashRecoveryDelay)
	b.startWorker(t)
	waitFor(t, crashRecoveryTimeout, func() bool { return b.effects(t, "crash-before-effect") == 1 },
		"the interrupted job is run again by another worker")
	var attempt int
	require.NoError(t, b.pool.QueryRow(t.Context(),
		`SELECT max(attempt) FROM runs WHERE note = 'crash-before-effect'`).Scan(&attempt))
	require.GreaterOrEqual(t, attempt, 2, "as a retry")
	waitFor(t, crashRecoveryTimeout, func() bool { return jobGone(t, b, after.ID) },
		"the committed job is redelivered and acknowledged")
	require.Equal(t, 1, b.effects(t, "crash-before-effect"), "effect once")
	require.Equal(t, 1, b.effects(t, "crash-after-commit"), "effect once: the redelivery was skipped by its key")
	require.Equal(t, 1, b.runs(t, "crash-after-commit"), "the handler did not run again")
	// The broker records completion after the handler's transaction
	// commits (some complete in batches), so wait for it.
	waitFor(t, crashRecoveryTimeout, func() bool { return jobGone(t, b, before.ID) }, "the retried job is done")
}

// startChild runs this test binary as a worker process in mode.
func startChild(tb testing.TB, b *testBundle, mode string) (*exec.Cmd, *testsvc.LogBuffer) {
	tb.Helper()
	out := &testsvc.LogBuffer{}
	cmd := exec.CommandContext(context.WithoutCancel(tb.Context()), os.Args[0], "-test.run=^$") //nolint:gosec // this test binary, re-run
	cmd.Env = append(os.Environ(),
		childModeEnv+"="+mode, "JOBS_TEST_DATABASE_URL="+b.dbURL, "JOBS_TEST_NAME="+b.name, "JOBS_TEST_QUEUE="+b.queue)
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(tb, cmd.Start())
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd, out
}

// runChild is the worker process the crash tests kill.
func runChild(mode string) error {
	ctx := context.Background()
	pool, err := postgres.Open(ctx, os.Getenv("JOBS_TEST_DATABASE_URL"), "test-child", postgres.MinMaxConns(16))
	if err != nil {
		return err
	}
	defer pool.Close()
	cfg := jobs.Config{Pool: pool, Logger: slog.New(slog.NewTextHandler(os.Stderr, nil)), Name: os.Getenv("JOBS_TEST_NAME")}
	closeBroker, err := brokerConfig(&cfg)
	if err != nil {
		return err
	}
	defer closeBroker()
	client, err := jobs.Open(ctx, cfg)
	if err != nil {
		return err
	}
	wc := jobs.WorkerConfig{
		Registry:    testRegistry(pool, true),
		Queues:      map[string]int{os.Getenv("JOBS_TEST_QUEUE"): 4},
		JobTimeout:  jobTimeout,
		Backoff:     fastBackoff,
		RescueAfter: rescueAfter,
	}
	switch mode {
	case "worker":
		wc.Scope = crashAfterCommitScope(pool)
	default:
		return fmt.Errorf("unknown mode %q", mode)
	}
	w, err := jobs.NewWorker(client, wc)
	if err != nil {
		return err
	}
	return w.Run(ctx)
}

// crashAfterCommitScope is PoolScope, except that once the transaction of
// a "crash-after-commit" job has committed it records that and blocks for
// good, before the broker hears the job is done.
func crashAfterCommitScope(pool *pgxpool.Pool) jobs.TenantScope {
	scope := jobs.PoolScope(pool)
	return func(ctx context.Context, tenant jobs.Tenant, fn func(context.Context, pgx.Tx) error) error {
		if err := scope(ctx, tenant, fn); err != nil {
			return err
		}
		var committed bool
		if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM effects WHERE note = 'crash-after-commit')`).Scan(&committed); err != nil {
			return err
		}
		if committed {
			_, _ = pool.Exec(ctx, `INSERT INTO runs (job_key, note, attempt) VALUES ('', 'crash-after-commit committed', 0)`)
			select {} // the test kills this process here
		}
		return nil
	}
}

// missingID is a job id no broker has.
const missingID = "424242424242"

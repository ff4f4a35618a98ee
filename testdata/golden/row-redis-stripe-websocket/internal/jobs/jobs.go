// Package jobs is the background-job backbone: slow or flaky work (emails,
// billing webhooks, reports) leaves the request path and runs in the worker.
//
// The API is the same for every broker. A job is a typed value (Args) plus
// the tenant it belongs to; Client.Enqueue writes it inside the caller's
// business transaction, so a rolled-back change never leaves a job behind
// and a committed one always has its job.
//
// The job is written to an outbox table in that transaction, and a relay in
// the worker publishes it to the broker with the broker's own
// deduplication, so a crash between commit and publish loses nothing and
// publishes once in effect.
//
// Handlers register with Handle. Each delivery runs inside its tenant's data
// scope (a TenantScope) in one transaction that also records the job's
// idempotency key: a job delivered twice (after a crash, a lost
// acknowledgement or a duplicate publish) has the effect of one.
package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	mrand "math/rand/v2"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/acme/shop-api/internal/domain"
	"github.com/acme/shop-api/internal/logging"
	"github.com/acme/shop-api/internal/postgres/db"
)

// Queues the application uses. The worker works the queues named in
// WORKER_CONCURRENCY; a job in a queue no worker works waits.
const (
	QueueDefault = "default"
	QueueEmail   = "email"
)

// DefaultMaxAttempts is how many times a job runs before it is discarded,
// unless its Options say otherwise.
const DefaultMaxAttempts = 10

// Tenant names the tenant a job belongs to; the job runs inside that
// tenant's data scope. The zero Tenant stands for the control plane (jobs
// that belong to no tenant, such as maintenance).
type Tenant struct {
	ID   string `json:"id,omitempty"`
	Slug string `json:"slug,omitempty"`
}

// String returns the tenant's slug, or "control-plane".
func (t Tenant) String() string {
	if t.ID == "" {
		return "control-plane"
	}
	return t.Slug
}

// Args is the typed payload of one kind of job. Kind names the kind; it is
// stored with every job, so never rename it while jobs of it may be queued.
// Args are encoded as JSON.
type Args interface {
	Kind() string
}

// Optioner is implemented by Args whose kind has default options (its
// queue, how many attempts).
type Optioner interface {
	JobOptions() Options
}

// Options tune one job. Zero fields take the kind's defaults (Optioner),
// then the package's.
type Options struct {
	// Queue is the queue the job waits in (default QueueDefault).
	Queue string
	// MaxAttempts is how many times the job runs before it is discarded
	// (default DefaultMaxAttempts).
	MaxAttempts int
	// RunAt schedules the job for later; zero means now.
	RunAt time.Time
	// UniqueKey, when set, makes the job unique among jobs of its kind and
	// tenant with the same UniqueKey, its twins. Every broker keeps one
	// contract:
	//   - while a twin is queued, scheduled, running or waiting to retry,
	//     Enqueue adds nothing and returns Duplicate with the twin's ID;
	//   - once the twin has completed, been discarded or been cancelled,
	//     Enqueue adds a new job, which runs;
	//   - of concurrent Enqueues (in any processes), exactly one adds the
	//     job; the others wait for its transaction to end.
	// A twin's end is recorded just after its transaction commits: an
	// Enqueue in between is still a duplicate.
	UniqueKey string
	// Key is the job's idempotency key: a second job of the same kind and
	// tenant with the same Key is skipped once the first has succeeded.
	// It defaults to a new random key, which only guards against duplicate
	// deliveries of this one job. Give it a stable value (a Stripe event id,
	// an invitation id) to make a business action idempotent end to end.
	Key string
}

// Job is a job to enqueue: its arguments, the tenant it runs for, and options.
type Job struct {
	Tenant Tenant
	Args   Args
	Options
}

// Enqueued is the result of Client.Enqueue.
type Enqueued struct {
	// ID identifies the job in `jobs retry` and `jobs cancel`.
	ID string
	// Duplicate is true when a twin of a unique job had not finished yet
	// and nothing was added; ID is then the twin's.
	Duplicate bool
}

// Delivery is one run of a job, as its handler sees it.
type Delivery[T Args] struct {
	// ID is the broker's id of the job.
	ID string
	// Tenant is the tenant the job runs for.
	Tenant Tenant
	// Key is the job's idempotency key.
	Key string
	// Attempt counts runs, from 1; a retry or a redelivery after a crash
	// increments it.
	Attempt int
	// MaxAttempts is the attempt after which a failure discards the job.
	MaxAttempts int
	// Args are the job's arguments.
	Args T
}

// Handler does one kind of job. tx is a transaction inside the job's tenant
// scope: whatever the handler writes through it commits together with the
// job's idempotency key, or not at all when the handler returns an error.
// TenantQueries(tx) gives the tenant queries on it; hand-written SQL stays
// unqualified, as theirs is.
//
// A handler can enqueue follow-up jobs with Client.Enqueue in tx.
type Handler[T Args] func(ctx context.Context, tx pgx.Tx, d *Delivery[T]) error

// TenantScope runs fn in a transaction scoped to tenant's data. The worker
// of the application uses TenantsScope, which confines the transaction to
// the tenant through the tenancy layer; PoolScope, a plain transaction for
// every tenant, is for control-plane work and tests of the machinery.
type TenantScope func(ctx context.Context, tenant Tenant, fn func(ctx context.Context, tx pgx.Tx) error) error

// PoolScope returns a TenantScope that runs fn in a transaction on pool,
// whatever the tenant.
func PoolScope(pool *pgxpool.Pool) TenantScope {
	return func(ctx context.Context, _ Tenant, fn func(ctx context.Context, tx pgx.Tx) error) error {
		return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return fn(ctx, tx) })
	}
}

// Registry maps job kinds to their handlers. Build it once at start-up with
// Handle; the worker dispatches every delivery through it.
type Registry struct {
	handlers map[string]handler
}

// handler is a Handler with its argument type erased.
type handler func(ctx context.Context, tx pgx.Tx, m meta, args json.RawMessage) error

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{handlers: map[string]handler{}}
}

// Handle registers h for the kind of T. Registering a kind twice is a
// programming error and panics, at start-up.
func Handle[T Args](r *Registry, h Handler[T]) {
	var zero T
	kind := zero.Kind()
	if _, dup := r.handlers[kind]; dup {
		panic(fmt.Sprintf("jobs: a handler for %q is already registered", kind))
	}
	r.handlers[kind] = func(ctx context.Context, tx pgx.Tx, m meta, raw json.RawMessage) error {
		d := &Delivery[T]{ID: m.ID, Tenant: m.Tenant, Key: m.Key, Attempt: m.Attempt, MaxAttempts: m.MaxAttempts}
		if err := json.Unmarshal(raw, &d.Args); err != nil {
			return fmt.Errorf("decode %s arguments: %w", kind, err)
		}
		return h(ctx, tx, d)
	}
}

// Kinds lists the registered kinds.
func (r *Registry) Kinds() []string {
	return slices.Sorted(maps.Keys(r.handlers))
}

// envelope is how a job travels: its arguments and everything the worker
// needs to run it, independent of the broker.
type envelope struct {
	ID          string          `json:"id,omitempty"`
	Kind        string          `json:"kind"`
	Queue       string          `json:"queue"`
	Tenant      Tenant          `json:"tenant"`
	Key         string          `json:"key"`
	UniqueKey   string          `json:"unique_key,omitempty"`
	MaxAttempts int             `json:"max_attempts"`
	EnqueuedAt  time.Time       `json:"enqueued_at"`
	RunAt       time.Time       `json:"run_at,omitzero"`
	Args        json.RawMessage `json:"args"`
}

// meta is what the dispatcher knows about one delivery.
type meta struct {
	ID          string
	Kind        string
	Queue       string
	Tenant      Tenant
	Key         string
	Attempt     int
	MaxAttempts int
	// Since is when the job became due, for the wait-time metric.
	Since time.Time
}

// newEnvelope validates job, applies defaults and encodes its arguments.
func newEnvelope(job Job, now time.Time) (envelope, Options, error) {
	if job.Args == nil {
		return envelope{}, Options{}, domain.Errorf(domain.EINVALID, "jobs: a job needs Args")
	}
	opts := job.Options
	if o, ok := job.Args.(Optioner); ok {
		def := o.JobOptions()
		opts.Queue = cmpOr(opts.Queue, def.Queue)
		if opts.MaxAttempts == 0 {
			opts.MaxAttempts = def.MaxAttempts
		}
	}
	opts.Queue = cmpOr(opts.Queue, QueueDefault)
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.Key == "" {
		opts.Key = NewID()
	}
	if !validQueue(opts.Queue) {
		return envelope{}, Options{}, domain.Errorf(domain.EINVALID, "jobs: queue names are 1 to 64 lowercase letters, digits, - and _ (got %q)", opts.Queue)
	}
	if (job.Tenant.ID == "") != (job.Tenant.Slug == "") {
		return envelope{}, Options{}, domain.Errorf(domain.EINVALID, "jobs: a tenant needs both an id and a slug")
	}
	args, err := json.Marshal(job.Args)
	if err != nil {
		return envelope{}, Options{}, fmt.Errorf("jobs: encode %s arguments: %w", job.Args.Kind(), err)
	}
	return envelope{
		Kind:        job.Args.Kind(),
		Queue:       opts.Queue,
		Tenant:      job.Tenant,
		Key:         opts.Key,
		UniqueKey:   opts.UniqueKey,
		MaxAttempts: opts.MaxAttempts,
		EnqueuedAt:  now.UTC(),
		RunAt:       opts.RunAt.UTC(),
		Args:        args,
	}, opts, nil
}

// validQueue accepts names that are safe in every broker's naming
// (subjects, stream and consumer names included): lowercase letters,
// digits, hyphens and underscores.
func validQueue(q string) bool {
	if q == "" || len(q) > 64 {
		return false
	}
	for _, r := range q {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' && r != '_' {
			return false
		}
	}
	return true
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// NewID returns a random UUID (version 4) in its text form.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// ErrUnknownKind is returned for a delivery no handler is registered for.
// It is retried: during a rolling deploy a newer worker may know the kind.
var ErrUnknownKind = errors.New("jobs: no handler registered for this kind")

// Permanent marks err as a failure another attempt cannot fix (arguments
// that can never work, a tenant that is gone): the job is discarded at once,
// whatever attempts it has left. Handlers return it too. Permanent(nil) is
// nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// permanentPrefix starts the message of a Permanent error, as stored with
// the job.
const permanentPrefix = "permanent failure: "

type permanentError struct{ err error }

func (e *permanentError) Error() string { return permanentPrefix + e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// IsPermanent reports whether err, or an error it wraps, was marked with
// Permanent.
func IsPermanent(err error) bool {
	_, ok := errors.AsType[*permanentError](err)
	return ok
}

// dispatcher runs deliveries: tenant scope, idempotency key, handler,
// logging and metrics. Every broker's worker calls run.
type dispatcher struct {
	registry *Registry
	scope    TenantScope
	logger   *slog.Logger
	metrics  *Metrics
	timeout  time.Duration
}

// run runs one delivery and returns the handler's error. A delivery whose
// key was already processed succeeds without calling the handler.
func (d *dispatcher) run(ctx context.Context, m meta, args json.RawMessage) error {
	ctx = logging.With(ctx,
		slog.String("job_id", m.ID),
		slog.String("job_kind", m.Kind),
		slog.String("job_queue", m.Queue),
		slog.String("tenant", m.Tenant.String()),
		slog.Int("attempt", m.Attempt),
	)
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	start := time.Now()
	d.metrics.started(m, start)
	d.logger.InfoContext(ctx, "job started", slog.Int("max_attempts", m.MaxAttempts))
	h, ok := d.registry.handlers[m.Kind]
	var err error
	skipped := false
	if !ok {
		err = fmt.Errorf("%w: %q", ErrUnknownKind, m.Kind)
	} else {
		err = d.scope(ctx, m.Tenant, func(ctx context.Context, tx pgx.Tx) error {
			first, markErr := markProcessed(ctx, tx, m)
			if markErr != nil || !first {
				skipped = markErr == nil
				return markErr
			}
			return h(ctx, tx, m, args)
		})
	}
	elapsed := time.Since(start)
	permanent := IsPermanent(err)
	if permanent {
		m.Attempt = m.MaxAttempts // counted and logged as the last attempt
	}
	d.metrics.finished(m, elapsed, err)
	// One line ends every job, with its outcome (done, skipped, retry or
	// discarded) and how long it ran, in the unit request logs use.
	took := slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000)
	switch {
	case err == nil && skipped:
		d.logger.InfoContext(ctx, "job already processed; skipped", slog.String("outcome", "skipped"), took, slog.String("key", m.Key))
	case err == nil:
		d.logger.InfoContext(ctx, "job done", slog.String("outcome", "done"), took)
	case permanent:
		d.logger.ErrorContext(ctx, "job failed permanently; discarded", slog.String("outcome", "discarded"), took, slog.Any("error", err))
	case m.Attempt >= m.MaxAttempts:
		d.logger.ErrorContext(ctx, "job failed on its last attempt; discarded", slog.String("outcome", "discarded"), took, slog.Any("error", err))
	default:
		d.logger.WarnContext(ctx, "job failed; will retry", slog.String("outcome", "retry"), took, slog.Any("error", err))
	}
	return err
}

// markProcessed records the delivery's idempotency key in tx and reports
// whether it is the first to do so. It commits or rolls back with the
// handler's own writes.
func markProcessed(ctx context.Context, tx pgx.Tx, m meta) (bool, error) {
	n, err := db.New(tx).MarkJobProcessed(ctx, db.MarkJobProcessedParams{TenantID: m.Tenant.ID, Kind: m.Kind, Key: m.Key})
	if err != nil {
		return false, fmt.Errorf("record job key: %w", err)
	}
	return n == 1, nil
}

// Backoff returns how long to wait before attempt+1 after attempt failed:
// exponential from one second, capped at an hour, with ±10% jitter so that
// jobs that failed together do not retry together.
func Backoff(attempt int) time.Duration {
	const base, ceiling = time.Second, time.Hour
	d := ceiling
	if attempt < 13 {
		d = min(base<<max(attempt-1, 0), ceiling)
	}
	jitter := time.Duration(mrand.Int64N(int64(d/5)+1)) - d/10 //nolint:gosec // jitter needs no unpredictability
	return d + jitter
}

// State selects jobs for Client.List.
type State string

// States Client.List accepts.
const (
	// StateScheduled jobs were enqueued to run later and are not due yet.
	StateScheduled State = "scheduled"
	// StatePending jobs are due and wait for a worker.
	StatePending State = "pending"
	// StateRunning jobs are being worked on now.
	StateRunning State = "running"
	// StateFailed jobs failed at least once and wait to be retried.
	StateFailed State = "failed"
	// StateDiscarded jobs failed on their last attempt (the dead letters);
	// Client.Retry brings one back.
	StateDiscarded State = "discarded"
)

// States lists every State, in a job's order of life.
var States = []State{StateScheduled, StatePending, StateRunning, StateFailed, StateDiscarded}

// ParseState parses a state named on the command line.
func ParseState(s string) (State, error) {
	if slices.Contains(States, State(s)) {
		return State(s), nil
	}
	return "", domain.Errorf(domain.EINVALID, "unknown job state %q (want scheduled, pending, running, failed or discarded)", s)
}

// Query selects jobs for Client.List: those in State and, for each filter
// that is set, of that Kind, in that Queue and for the tenant whose slug
// is Tenant; at most Limit of them.
type Query struct {
	State State
	Kind  string
	Queue string
	// Tenant is a tenant's slug; "control-plane" selects the jobs of no
	// tenant.
	Tenant string
	Limit  int
}

// Info describes a job for `jobs list`.
type Info struct {
	ID          string
	Kind        string
	Queue       string
	Tenant      Tenant
	Attempt     int
	MaxAttempts int
	LastError   string
	// At is when the job will run next (failed) or was discarded.
	At time.Time
}

// errJobNotFound is the error for an id that names no job in a state the
// operation applies to.
func errJobNotFound(id string) error {
	return domain.Errorf(domain.ENOTFOUND, "no job %q that can be changed this way", id)
}

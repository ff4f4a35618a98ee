package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/robfig/cron/v3"

	"example.com/acme/internal/broker"
	"example.com/acme/internal/postgres/db"
)

// Config configures a Client.
type Config struct {
	// Pool is the application's database; jobs are enqueued in its transactions.
	Pool *pgxpool.Pool
	// SessionPool keeps its sessions (DATABASE_SESSION_URL) when Pool goes
	// through a transaction-pooling proxy: the outbox relay LISTENs on it.
	// Nil means Pool.
	SessionPool *pgxpool.Pool
	// Logger receives the client's and worker's logs.
	Logger *slog.Logger
	// Name names the application's jobs in the broker (config.Broker's
	// Namespace), so that deployments sharing a server stay apart:
	// lowercase letters, digits and hyphens.
	Name string
	// Broker is the connection to the broker's server (broker.Open), which
	// the job backend shares.
	Broker *broker.Conn
}

// WorkerConfig configures a Worker.
type WorkerConfig struct {
	// Registry holds the handlers; required.
	Registry *Registry
	// Queues maps each queue the worker works to how many of its jobs run
	// at once; required.
	Queues map[string]int
	// Scope runs each job inside its tenant's data scope. The application
	// passes TenantsScope; the default, PoolScope, gives every job a plain
	// transaction and suits only jobs without a tenant.
	Scope TenantScope
	// Metrics records the worker's job metrics; default NewMetrics().
	Metrics *Metrics
	// ShutdownTimeout is how long running jobs get to finish once Run's
	// context is cancelled; jobs still running then are cancelled and go
	// back to the queue. Default 15s.
	ShutdownTimeout time.Duration
	// JobTimeout cancels a job run that takes longer; default 5m.
	JobTimeout time.Duration
	// Backoff is the wait before the next attempt after a failed one;
	// default Backoff.
	Backoff func(attempt int) time.Duration
	// RescueAfter is how long a job may run without the broker hearing
	// from its worker before it is taken for crashed and run again.
	// How the broker uses it, and its default, is in the broker's file
	// (brokerDefaults).
	RescueAfter time.Duration
	// Periodic jobs are enqueued on their schedules.
	Periodic []PeriodicJob
}

// withDefaults validates cfg and fills in its defaults.
func (cfg WorkerConfig) withDefaults(c *Client) (WorkerConfig, error) {
	if cfg.Registry == nil {
		return cfg, errors.New("jobs: WorkerConfig.Registry is required")
	}
	if len(cfg.Queues) == 0 {
		return cfg, errors.New("jobs: WorkerConfig.Queues names no queue")
	}
	for q, n := range cfg.Queues {
		if n < 1 {
			return cfg, fmt.Errorf("jobs: queue %q needs a concurrency of at least 1", q)
		}
	}
	if cfg.Scope == nil {
		cfg.Scope = PoolScope(c.pool)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics()
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 15 * time.Second
	}
	if cfg.JobTimeout <= 0 {
		cfg.JobTimeout = 5 * time.Minute
	}
	if cfg.Backoff == nil {
		cfg.Backoff = Backoff
	}
	var err error
	if cfg, err = cfg.brokerDefaults(); err != nil {
		return cfg, err
	}
	for _, p := range cfg.Periodic {
		if _, err := cron.ParseStandard(p.Schedule); err != nil {
			return cfg, fmt.Errorf("jobs: periodic job %q: schedule %q: %w", p.Name, p.Schedule, err)
		}
	}
	return cfg, nil
}

// dispatcher returns the dispatcher the worker runs deliveries through.
func (cfg WorkerConfig) dispatcher(logger *slog.Logger) *dispatcher {
	return &dispatcher{registry: cfg.Registry, scope: cfg.Scope, logger: logger, metrics: cfg.Metrics, timeout: cfg.JobTimeout}
}

// PeriodicJob is a job enqueued on a cron schedule. Every worker runs the
// schedules; a table of fired slots makes each firing enqueue exactly one
// job however many workers run. Slots missed while no worker ran are not
// caught up.
type PeriodicJob struct {
	// Name identifies the schedule; keep it stable.
	Name string
	// Schedule is a five-field cron expression ("*/5 * * * *") or a
	// descriptor such as "@hourly", in UTC.
	Schedule string
	// Job builds the job for the firing at slot.
	Job func(slot time.Time) Job
}

// runPeriodic enqueues periodic jobs on their schedules until ctx is done.
func runPeriodic(ctx context.Context, c *Client, jobs []PeriodicJob) {
	if len(jobs) == 0 {
		return
	}
	schedules := make([]cron.Schedule, len(jobs))
	next := make([]time.Time, len(jobs))
	now := time.Now().UTC()
	for i, p := range jobs {
		schedules[i], _ = cron.ParseStandard(p.Schedule) // validated in withDefaults
		next[i] = nextSlot(schedules[i], now)
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		soonest := next[0]
		for _, t := range next[1:] {
			if t.Before(soonest) {
				soonest = t
			}
		}
		timer.Reset(time.Until(soonest))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		now := time.Now().UTC()
		for i, p := range jobs {
			if next[i].After(now) {
				continue
			}
			if err := c.firePeriodic(ctx, p, next[i]); err != nil {
				c.logger.ErrorContext(ctx, "enqueue periodic job", slog.String("schedule", p.Name), slog.Any("error", err))
			}
			next[i] = nextSlot(schedules[i], now)
		}
	}
}

// nextSlot returns the schedule's next firing after t. "@every" schedules
// are aligned to multiples of their interval, so that every worker
// computes the same slots.
func nextSlot(s cron.Schedule, t time.Time) time.Time {
	if every, ok := s.(cron.ConstantDelaySchedule); ok {
		return t.Truncate(every.Delay).Add(every.Delay)
	}
	return s.Next(t)
}

// firePeriodic enqueues p's job for the slot unless another worker already did.
func (c *Client) firePeriodic(ctx context.Context, p PeriodicJob, slot time.Time) error {
	return pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		n, err := db.New(tx).ClaimPeriodicSlot(ctx, db.ClaimPeriodicSlotParams{
			Name: p.Name, Slot: pgtype.Timestamptz{Time: slot, Valid: true},
		})
		if err != nil || n == 0 {
			return err
		}
		_, err = c.Enqueue(ctx, tx, p.Job(slot))
		return err
	})
}

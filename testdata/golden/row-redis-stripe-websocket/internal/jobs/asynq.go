package jobs

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/acme/shop-api/internal/domain"
)

// Client enqueues jobs through the outbox and manages the jobs asynq holds
// in Redis.
type Client struct {
	pool      *pgxpool.Pool
	session   *pgxpool.Pool // Config.SessionPool, or pool
	logger    *slog.Logger
	namespace string
	redis     *redis.Client
	asynq     *asynq.Client
	inspector *asynq.Inspector
	// afterPublish, when set (by tests), runs between publishing a relay
	// batch and deleting it from the outbox.
	afterPublish func()
}

// Open returns a Client using cfg.Pool and the Redis client of cfg.Broker.
// Redis must persist (AOF) for queued jobs to survive a Redis restart.
func Open(_ context.Context, cfg Config) (*Client, error) {
	if cfg.Broker == nil {
		return nil, errors.New("jobs: Config.Broker is required")
	}
	rc := cfg.Broker.Client()
	return &Client{
		pool:      cfg.Pool,
		session:   cmp.Or(cfg.SessionPool, cfg.Pool),
		logger:    cfg.Logger,
		namespace: cfg.Name,
		redis:     rc,
		asynq:     asynq.NewClientFromRedisClient(rc),
		inspector: asynq.NewInspectorFromRedisClient(rc),
	}, nil
}

// MigrateQueue brings the job queue's storage up to date as `migrate up`
// runs: there is nothing to do, since asynq keeps its queues in Redis and the outbox
// table is one of the app's own migrations.
func MigrateQueue(context.Context, *pgxpool.Pool, io.Writer) error { return nil }

// Close releases the client; the broker's connection belongs to the caller.
func (c *Client) Close() error { return nil }

// publish enqueues a relay batch into asynq. The task id is the job id: a
// task already in Redis under that id (this job, published before a relay
// crash) makes the copy a no-op. Unique jobs are not asynq's Unique tasks:
// their key is held in Postgres (see outbox.go).
func (c *Client) publish(ctx context.Context, batch []outboxJob) error {
	for i := range batch {
		j := &batch[i]
		task := asynq.NewTask(j.env.Kind, j.payload,
			asynq.TaskID(j.id),
			asynq.Queue(c.redisQueue(j.queue)),
			asynq.MaxRetry(j.env.MaxAttempts-1),
			// Deadlines are the worker's (JobTimeout); asynq's default of
			// 30 minutes would only get in the way.
			asynq.Timeout(0), asynq.Deadline(time.Now().AddDate(10, 0, 0)),
		)
		if _, err := c.asynq.EnqueueContext(ctx, task); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
			return fmt.Errorf("publish job %s: %w", j.id, err)
		}
	}
	return nil
}

// redisQueue is the asynq queue of one of the application's queues: asynq
// has no namespaces, so the queue name carries the namespace, and
// deployments sharing one Redis never take each other's jobs.
func (c *Client) redisQueue(queue string) string { return c.namespace + ":" + queue }

// queues lists the asynq queues of the namespace.
func (c *Client) queues() ([]string, error) {
	all, err := c.inspector.Queues()
	if err != nil {
		return nil, fmt.Errorf("jobs: list queues: %w", err)
	}
	var qs []string
	for _, q := range all {
		if strings.HasPrefix(q, c.namespace+":") {
			qs = append(qs, q)
		}
	}
	slices.Sort(qs)
	return qs, nil
}

// List returns the jobs q selects, across queues. Jobs not due yet wait in
// the outbox (scheduled), and so do due ones until the relay has published
// them: pending lists those first, then asynq's.
func (c *Client) List(ctx context.Context, q Query) ([]Info, error) {
	if q.State == StateScheduled {
		return c.listOutbox(ctx, q, true, q.Limit)
	}
	var infos []Info
	if q.State == StatePending {
		unpublished, err := c.listOutbox(ctx, q, false, q.Limit)
		if err != nil {
			return nil, err
		}
		infos = unpublished
	}
	list := map[State]func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){
		StatePending:   c.inspector.ListPendingTasks,
		StateRunning:   c.inspector.ListActiveTasks,
		StateFailed:    c.inspector.ListRetryTasks,
		StateDiscarded: c.inspector.ListArchivedTasks,
	}[q.State]
	qs, err := c.queues()
	if err != nil {
		return nil, err
	}
	const pageSize = 100
	for _, queue := range qs {
		if q.Queue != "" && queue != c.redisQueue(q.Queue) {
			continue
		}
		for page := 1; len(infos) < q.Limit; page++ {
			tasks, err := list(queue, asynq.PageSize(pageSize), asynq.Page(page))
			if err != nil {
				return nil, fmt.Errorf("jobs: list %s: %w", queue, err)
			}
			for _, t := range tasks {
				if info := taskInfo(t); q.matches(&info) {
					infos = append(infos, info)
				}
			}
			if len(tasks) < pageSize {
				break
			}
		}
	}
	if infos == nil {
		infos = []Info{}
	}
	return infos[:min(len(infos), q.Limit)], nil
}

func taskInfo(t *asynq.TaskInfo) Info {
	var env envelope
	_ = json.Unmarshal(t.Payload, &env) // a foreign task still lists, without its tenant
	info := Info{
		ID: t.ID, Kind: t.Type, Queue: env.Queue, Tenant: env.Tenant,
		Attempt: t.Retried, MaxAttempts: t.MaxRetry + 1, LastError: t.LastErr, At: t.NextProcessAt,
	}
	if t.State == asynq.TaskStateArchived {
		info.Attempt, info.At = t.MaxRetry+1, t.LastFailedAt
	}
	return info
}

// find returns the task with id and its queue.
func (c *Client) find(id string) (*asynq.TaskInfo, error) {
	qs, err := c.queues()
	if err != nil {
		return nil, err
	}
	for _, q := range qs {
		t, err := c.inspector.GetTaskInfo(q, id)
		if errors.Is(err, asynq.ErrTaskNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("jobs: get %s: %w", id, err)
		}
		return t, nil
	}
	return nil, errJobNotFound(id)
}

// Retry makes a failed or discarded job run again now.
func (c *Client) Retry(_ context.Context, id string) error {
	t, err := c.find(id)
	if err != nil {
		return err
	}
	if t.State != asynq.TaskStateRetry && t.State != asynq.TaskStateArchived {
		return domain.Errorf(domain.ECONFLICT, "job %s is %s; only failed or discarded jobs can be retried", id, t.State)
	}
	if err := c.inspector.RunTask(t.Queue, id); err != nil {
		return fmt.Errorf("jobs: retry %s: %w", id, err)
	}
	return nil
}

// cancelWait bounds how long Cancel waits for a running job to stop.
const cancelWait = 10 * time.Second

// Cancel stops a job that has not finished: one still in the outbox or
// queued is deleted; a running one has its context cancelled, then is
// deleted instead of retried.
func (c *Client) Cancel(ctx context.Context, id string) error {
	if done, err := c.cancelOutbox(ctx, id); err != nil || done {
		return err
	}
	t, err := c.find(id)
	if err != nil {
		return err
	}
	switch t.State {
	case asynq.TaskStateArchived, asynq.TaskStateCompleted:
		return domain.Errorf(domain.ECONFLICT, "job %s is already %s", id, t.State)
	case asynq.TaskStateActive:
		if cerr := c.inspector.CancelProcessing(id); cerr != nil {
			return fmt.Errorf("jobs: cancel %s: %w", id, cerr)
		}
		deadline := time.Now().Add(cancelWait)
		for t.State == asynq.TaskStateActive {
			if time.Now().After(deadline) {
				return domain.Errorf(domain.EUNAVAILABLE, "job %s is still running %s after its cancellation", id, cancelWait)
			}
			time.Sleep(50 * time.Millisecond)
			if t, err = c.inspector.GetTaskInfo(t.Queue, id); err != nil {
				return fmt.Errorf("jobs: cancel %s: %w", id, err)
			}
		}
	case asynq.TaskStatePending, asynq.TaskStateScheduled, asynq.TaskStateRetry, asynq.TaskStateAggregating:
	}
	if err := c.inspector.DeleteTask(t.Queue, id); err != nil && !errors.Is(err, asynq.ErrTaskNotFound) {
		return fmt.Errorf("jobs: cancel %s: %w", id, err)
	}
	return c.releaseUnique(ctx, id)
}

// depth counts jobs by queue and state: asynq's states, plus those still
// in the outbox.
func (c *Client) depth(ctx context.Context) ([]depth, error) {
	ds, err := c.outboxDepth(ctx)
	if err != nil {
		return nil, err
	}
	qs, err := c.queues()
	if err != nil {
		return nil, err
	}
	for _, q := range qs {
		info, err := c.inspector.GetQueueInfo(q)
		if err != nil {
			return nil, fmt.Errorf("jobs: queue %s: %w", q, err)
		}
		q = strings.TrimPrefix(q, c.namespace+":")
		ds = append(ds,
			depth{q, "pending", int64(info.Pending)},
			depth{q, "active", int64(info.Active)},
			depth{q, "scheduled", int64(info.Scheduled)},
			depth{q, "retry", int64(info.Retry)},
			depth{q, "archived", int64(info.Archived)},
		)
	}
	return ds, nil
}

// Worker works jobs from asynq and relays the outbox.
type Worker struct {
	client  *Client
	cfg     WorkerConfig
	servers []*asynq.Server
}

// NewWorker returns a worker for cfg's queues and handlers. asynq has one
// concurrency per server, so each queue gets a server of its own.
func NewWorker(c *Client, cfg WorkerConfig) (*Worker, error) {
	cfg, err := cfg.withDefaults(c)
	if err != nil {
		return nil, err
	}
	w := &Worker{client: c, cfg: cfg}
	for _, q := range slices.Sorted(maps.Keys(cfg.Queues)) {
		w.servers = append(w.servers, asynq.NewServerFromRedisClient(c.redis, asynq.Config{
			Concurrency: cfg.Queues[q],
			Queues:      map[string]int{c.redisQueue(q): 1},
			RetryDelayFunc: func(retried int, _ error, _ *asynq.Task) time.Duration {
				return cfg.Backoff(retried + 1)
			},
			ShutdownTimeout:          cfg.ShutdownTimeout,
			TaskCheckInterval:        50 * time.Millisecond,
			DelayedTaskCheckInterval: time.Second,
			Logger:                   asynqLogger{c.logger},
			LogLevel:                 asynq.WarnLevel,
		}))
	}
	return w, nil
}

// Run relays the outbox and works jobs (and fires periodic ones) until ctx
// is cancelled, then stops taking jobs and gives running ones
// ShutdownTimeout to finish; asynq puts those still running back in their
// queue.
func (w *Worker) Run(ctx context.Context) error {
	d := w.cfg.dispatcher(w.client.logger)
	handler := asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		var env envelope
		if err := json.Unmarshal(t.Payload(), &env); err != nil {
			return fmt.Errorf("decode job: %w: %w", err, asynq.SkipRetry)
		}
		retried, _ := asynq.GetRetryCount(ctx)
		maxRetry, _ := asynq.GetMaxRetry(ctx)
		id, _ := asynq.GetTaskID(ctx)
		m := meta{
			ID: id, Kind: env.Kind, Queue: env.Queue, Tenant: env.Tenant, Key: env.Key,
			Attempt: retried + 1, MaxAttempts: maxRetry + 1, Since: env.due(),
		}
		err := d.run(ctx, m, env.Args)
		// A cancelled context (shutdown, or Cancel, which frees the key
		// itself) puts the task back or deletes it: not finished here.
		last := (IsPermanent(err) || m.Attempt >= m.MaxAttempts) && ctx.Err() == nil
		if env.UniqueKey != "" && (err == nil || last) {
			// The job is finished once this returns: free its key. Should
			// that fail after a success, the job is retried, its key
			// already processed, and the retry frees the key.
			if relErr := w.client.releaseUnique(context.WithoutCancel(ctx), id); relErr != nil {
				if err == nil {
					return relErr
				}
				w.client.logger.ErrorContext(ctx, "discarded unique job keeps its key", slog.String("job_id", id), slog.Any("error", relErr))
			}
		}
		if IsPermanent(err) {
			return fmt.Errorf("%w: %w", err, asynq.SkipRetry) // archived at once
		}
		return err
	})
	for i, s := range w.servers {
		if err := s.Start(handler); err != nil {
			for _, started := range w.servers[:i] {
				started.Shutdown()
			}
			return fmt.Errorf("jobs: start asynq: %w", err)
		}
	}
	var wg sync.WaitGroup
	relayErr := make(chan error, 1)
	wg.Go(func() { relayErr <- w.client.relay(ctx, w.cfg.RelayInterval) })
	wg.Go(func() { runPeriodic(ctx, w.client, w.cfg.Periodic) })
	<-ctx.Done()
	wg.Wait()

	var shutdown sync.WaitGroup
	for _, s := range w.servers {
		shutdown.Go(s.Shutdown)
	}
	shutdown.Wait()
	return <-relayErr
}

// asynqLogger sends asynq's logs to slog.
type asynqLogger struct{ logger *slog.Logger }

func (l asynqLogger) log(level slog.Level, args []any) {
	l.logger.LogAttrs(context.Background(), level, "asynq", slog.String("detail", fmt.Sprint(args...)))
}

func (l asynqLogger) Debug(args ...any) { l.log(slog.LevelDebug, args) }
func (l asynqLogger) Info(args ...any)  { l.log(slog.LevelInfo, args) }
func (l asynqLogger) Warn(args ...any)  { l.log(slog.LevelWarn, args) }
func (l asynqLogger) Error(args ...any) { l.log(slog.LevelError, args) }
func (l asynqLogger) Fatal(args ...any) { l.log(slog.LevelError, args) }

// brokerDefaults fills in what asynq needs of a WorkerConfig: nothing.
// asynq fixes RescueAfter (a 30s lease renewed every 5s, recovered a minute
// after it lapses), so it is ignored.
func (cfg WorkerConfig) brokerDefaults() (WorkerConfig, error) {
	return cfg, nil
}

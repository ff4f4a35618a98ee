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
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"ledger.internal/svc/internal/domain"
)

// DuplicateWindow is how long JetStream remembers a message id: a job
// published twice within it (by a relay that crashed after publishing) is
// stored once. Every job has an id of its own; unique jobs are kept unique
// in Postgres (see outbox.go), not by this window.
const DuplicateWindow = time.Hour

// DeadRetention is how long discarded jobs are kept.
const DeadRetention = 30 * 24 * time.Hour

// Client enqueues jobs through the outbox and manages the jobs JetStream
// holds: a work-queue stream of queued jobs (subjects
// <name>.jobs.<queue>.<id>), a stream of discarded ones
// (<name>.dead.<queue>.<id>) and a key-value bucket describing jobs that
// failed and wait to be retried.
type Client struct {
	pool    *pgxpool.Pool
	session *pgxpool.Pool // Config.SessionPool, or pool
	logger  *slog.Logger
	name    string
	js      jetstream.JetStream
	mu      sync.Mutex // guards the three below until ready succeeds
	work    jetstream.Stream
	dead    jetstream.Stream
	failed  jetstream.KeyValue
	// afterPublish, when set (by tests), runs between publishing a relay
	// batch and deleting it from the outbox.
	afterPublish func()
}

// Open returns a Client using cfg.Pool and the NATS connection of
// cfg.Broker. Its streams and bucket are created (or updated) on first use,
// so Open succeeds while NATS is unreachable.
func Open(_ context.Context, cfg Config) (*Client, error) {
	if cfg.Broker == nil {
		return nil, errors.New("jobs: Config.Broker is required")
	}
	js, err := jetstream.New(cfg.Broker.NATS())
	if err != nil {
		return nil, fmt.Errorf("jobs: jetstream: %w", err)
	}
	return &Client{pool: cfg.Pool, session: cmp.Or(cfg.SessionPool, cfg.Pool), logger: cfg.Logger, name: cfg.Name, js: js}, nil
}

// ready creates or updates the file-backed streams and bucket, once.
func (c *Client) ready(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failed != nil {
		return nil
	}
	upper := strings.ToUpper(strings.ReplaceAll(c.name, "-", "_"))
	work, err := c.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:       upper + "_JOBS",
		Subjects:   []string{c.name + ".jobs.>"},
		Retention:  jetstream.WorkQueuePolicy,
		Storage:    jetstream.FileStorage,
		Duplicates: DuplicateWindow,
	})
	if err != nil {
		return fmt.Errorf("jobs: job stream: %w", err)
	}
	dead, err := c.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:     upper + "_JOBS_DEAD",
		Subjects: []string{c.name + ".dead.>"},
		Storage:  jetstream.FileStorage,
		MaxAge:   DeadRetention,
	})
	if err != nil {
		return fmt.Errorf("jobs: dead-letter stream: %w", err)
	}
	failed, err := c.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:  upper + "_JOBS_FAILED",
		Storage: jetstream.FileStorage,
	})
	if err != nil {
		return fmt.Errorf("jobs: failed-jobs bucket: %w", err)
	}
	c.work, c.dead, c.failed = work, dead, failed
	return nil
}

// MigrateQueue brings the job queue's storage up to date as `migrate up`
// runs: there is nothing to do, since JetStream creates its streams on first use and the outbox
// table is one of the app's own migrations.
func MigrateQueue(context.Context, *pgxpool.Pool, io.Writer) error { return nil }

// Close releases the client; the broker's connection belongs to the caller.
func (c *Client) Close() error { return nil }

func (c *Client) workSubject(queue, id string) string { return c.name + ".jobs." + queue + "." + id }
func (c *Client) deadSubject(queue, id string) string { return c.name + ".dead." + queue + "." + id }

// publish publishes a relay batch, each job with its id as Nats-Msg-Id so
// that JetStream stores a copy published within DuplicateWindow only once.
func (c *Client) publish(ctx context.Context, batch []outboxJob) error {
	if err := c.ready(ctx); err != nil {
		return err
	}
	futures := make([]jetstream.PubAckFuture, 0, len(batch))
	for i := range batch {
		j := &batch[i]
		msg := &nats.Msg{Subject: c.workSubject(j.queue, j.id), Data: j.payload}
		f, err := c.js.PublishMsgAsync(msg, jetstream.WithMsgID(j.id))
		if err != nil {
			return fmt.Errorf("publish job %s: %w", j.id, err)
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("publish job: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// failure describes a failed job in the failed-jobs bucket.
type failure struct {
	Queue       string    `json:"queue"`
	Kind        string    `json:"kind"`
	Tenant      Tenant    `json:"tenant"`
	Attempt     int       `json:"attempt"`
	MaxAttempts int       `json:"max_attempts"`
	Error       string    `json:"error"`
	NextAt      time.Time `json:"next_at"`
}

// List returns the jobs q selects. Jobs not due yet wait in the outbox
// (scheduled), and so do due ones until the relay has published them.
// JetStream does not say which of the messages in the stream a worker holds
// right now, so pending lists every job in the stream that has not failed,
// running or not, and running is refused.
func (c *Client) List(ctx context.Context, q Query) ([]Info, error) {
	switch q.State {
	case StateScheduled:
		return c.listOutbox(ctx, q, true, q.Limit)
	case StateRunning:
		return nil, domain.Errorf(domain.EINVALID,
			"NATS JetStream does not tell running jobs from waiting ones: -state pending lists both, and the worker's /metrics counts running ones (jobs_running)")
	case StatePending, StateFailed, StateDiscarded:
	}
	if err := c.ready(ctx); err != nil {
		return nil, err
	}
	failed, err := c.listFailed(ctx)
	if err != nil {
		return nil, err
	}
	switch q.State {
	case StateFailed:
		infos := []Info{}
		for _, id := range slices.Sorted(maps.Keys(failed)) {
			if info := failed[id]; q.matches(&info) && len(infos) < q.Limit {
				infos = append(infos, info)
			}
		}
		return infos, nil
	case StateDiscarded:
		return c.listStream(ctx, c.dead, q, q.Limit, nil)
	case StateScheduled, StateRunning, StatePending:
	}
	infos, err := c.listOutbox(ctx, q, false, q.Limit)
	if err != nil {
		return nil, err
	}
	inStream, err := c.listStream(ctx, c.work, q, q.Limit-len(infos), failed)
	return append(infos, inStream...), err
}

// listFailed returns the failed jobs waiting to be retried, by id.
func (c *Client) listFailed(ctx context.Context) (map[string]Info, error) {
	keys, err := c.failed.Keys(ctx)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return map[string]Info{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("jobs: list failed: %w", err)
	}
	infos := make(map[string]Info, len(keys))
	for _, id := range keys {
		e, err := c.failed.Get(ctx, id)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // it succeeded meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("jobs: get failed %s: %w", id, err)
		}
		var f failure
		if err := json.Unmarshal(e.Value(), &f); err != nil {
			return nil, fmt.Errorf("jobs: decode failed %s: %w", id, err)
		}
		infos[id] = Info{
			ID: id, Kind: f.Kind, Queue: f.Queue, Tenant: f.Tenant,
			Attempt: f.Attempt, MaxAttempts: f.MaxAttempts, LastError: f.Error, At: f.NextAt,
		}
	}
	return infos, nil
}

// Headers of a discarded job's message.
const (
	headerError   = "Job-Error"
	headerAttempt = "Job-Attempt"
)

// listStream returns up to limit of the jobs q selects in stream, oldest
// first, leaving out those in skip.
func (c *Client) listStream(ctx context.Context, stream jetstream.Stream, q Query, limit int, skip map[string]Info) ([]Info, error) {
	info, err := stream.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("jobs: list %s: %w", q.State, err)
	}
	infos := []Info{}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && len(infos) < limit && info.State.Msgs > 0; seq++ {
		msg, err := stream.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // acknowledged or deleted
		}
		if err != nil {
			return nil, fmt.Errorf("jobs: read %s job %d: %w", q.State, seq, err)
		}
		job := deadInfo(msg)
		if _, skipped := skip[job.ID]; !skipped && q.matches(&job) {
			infos = append(infos, job)
		}
	}
	return infos, nil
}

// deadInfo describes the job in msg, a message of the work stream or of the
// dead-letter stream (only the latter has the error headers).
func deadInfo(msg *jetstream.RawStreamMsg) Info {
	var env envelope
	_ = json.Unmarshal(msg.Data, &env) // a foreign message still lists, without its details
	attempt, _ := strconv.Atoi(msg.Header.Get(headerAttempt))
	return Info{
		ID: env.ID, Kind: env.Kind, Queue: env.Queue, Tenant: env.Tenant,
		Attempt: attempt, MaxAttempts: env.MaxAttempts, LastError: msg.Header.Get(headerError), At: msg.Time,
	}
}

// lookup finds the message of job id in stream under prefix.<queue>.<id>.
func lookup(ctx context.Context, stream jetstream.Stream, prefix, id string) (*jetstream.RawStreamMsg, error) {
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(prefix+".*."+id))
	if err != nil {
		return nil, fmt.Errorf("jobs: look up %s: %w", id, err)
	}
	for subject := range info.State.Subjects {
		msg, err := stream.GetLastMsgForSubject(ctx, subject)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("jobs: look up %s: %w", id, err)
		}
		return msg, nil
	}
	return nil, nil
}

// Retry makes a discarded or failed job run again now, with fresh attempts:
// a copy is published under a new message id and the old message deleted.
func (c *Client) Retry(ctx context.Context, id string) error {
	if err := c.ready(ctx); err != nil {
		return err
	}
	stream, prefix := c.dead, c.name+".dead"
	msg, err := lookup(ctx, stream, prefix, id)
	if err != nil {
		return err
	}
	if msg == nil {
		stream, prefix = c.work, c.name+".jobs"
		if _, getErr := c.failed.Get(ctx, id); getErr != nil {
			return errJobNotFound(id)
		}
		if msg, err = lookup(ctx, stream, prefix, id); err != nil {
			return err
		}
		if msg == nil {
			return errJobNotFound(id)
		}
	}
	var env envelope
	if err := json.Unmarshal(msg.Data, &env); err != nil {
		return fmt.Errorf("jobs: decode %s: %w", id, err)
	}
	// Delete first: a message that cannot be deleted must not be copied.
	if err := stream.DeleteMsg(ctx, msg.Sequence); err != nil {
		return fmt.Errorf("jobs: retry %s: %w", id, err)
	}
	copyID := id + "-" + NewID()[:8]
	if _, err := c.js.PublishMsg(ctx, &nats.Msg{Subject: c.workSubject(env.Queue, id), Data: msg.Data},
		jetstream.WithMsgID(copyID)); err != nil {
		return fmt.Errorf("jobs: retry %s: %w", id, err)
	}
	if err := c.failed.Delete(ctx, id); err != nil {
		return fmt.Errorf("jobs: retry %s: %w", id, err)
	}
	return nil
}

// Cancel stops a job that has not finished: one still in the outbox or
// queued (or waiting to retry) is deleted. A running one finishes its
// current attempt but is not retried.
func (c *Client) Cancel(ctx context.Context, id string) error {
	if done, err := c.cancelOutbox(ctx, id); err != nil || done {
		return err
	}
	if err := c.ready(ctx); err != nil {
		return err
	}
	msg, err := lookup(ctx, c.work, c.name+".jobs", id)
	if err != nil {
		return err
	}
	if msg == nil {
		return errJobNotFound(id)
	}
	if err := c.work.DeleteMsg(ctx, msg.Sequence); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return fmt.Errorf("jobs: cancel %s: %w", id, err)
	}
	if err := c.failed.Delete(ctx, id); err != nil {
		return fmt.Errorf("jobs: cancel %s: %w", id, err)
	}
	return c.releaseUnique(ctx, id)
}

// depth counts jobs by queue and state: waiting in the outbox, queued
// (not yet delivered), delivered and not yet acknowledged (running or
// waiting out a retry backoff), and discarded.
func (c *Client) depth(ctx context.Context) ([]depth, error) {
	if err := c.ready(ctx); err != nil {
		return nil, err
	}
	ds, err := c.outboxDepth(ctx)
	if err != nil {
		return nil, err
	}
	names := c.work.ConsumerNames(ctx)
	var consumers []string
	for name := range names.Name() {
		consumers = append(consumers, name)
	}
	if err = names.Err(); err != nil {
		return nil, fmt.Errorf("jobs: list consumers: %w", err)
	}
	slices.Sort(consumers)
	for _, name := range consumers {
		cons, consErr := c.work.Consumer(ctx, name)
		if consErr != nil {
			return nil, fmt.Errorf("jobs: consumer %s: %w", name, consErr)
		}
		info := cons.CachedInfo()
		queue := strings.TrimSuffix(strings.TrimPrefix(info.Config.FilterSubject, c.name+".jobs."), ".>")
		ds = append(ds,
			depth{queue, "queued", int64(info.NumPending)}, //nolint:gosec // counts fit
			depth{queue, "unacknowledged", int64(info.NumAckPending)},
		)
	}
	dead, err := c.dead.Info(ctx, jetstream.WithSubjectFilter(c.name+".dead.>"))
	if err != nil {
		return nil, fmt.Errorf("jobs: dead-letter stream: %w", err)
	}
	perQueue := map[string]int64{}
	for subject, n := range dead.State.Subjects {
		parts := strings.Split(subject, ".")
		perQueue[parts[len(parts)-2]] += int64(n) //nolint:gosec // counts fit
	}
	for _, q := range slices.Sorted(maps.Keys(perQueue)) {
		ds = append(ds, depth{q, "discarded", perQueue[q]})
	}
	return ds, nil
}

// Worker works jobs from JetStream and relays the outbox.
type Worker struct {
	client *Client
	cfg    WorkerConfig
}

// NewWorker returns a worker for cfg's queues and handlers.
func NewWorker(c *Client, cfg WorkerConfig) (*Worker, error) {
	cfg, err := cfg.withDefaults(c)
	if err != nil {
		return nil, err
	}
	return &Worker{client: c, cfg: cfg}, nil
}

// Run relays the outbox and works jobs (and fires periodic ones) until ctx
// is cancelled, then stops taking jobs and gives running ones
// ShutdownTimeout to finish; those still running are cancelled and handed
// back to JetStream for redelivery.
func (w *Worker) Run(ctx context.Context) error {
	if err := w.client.ready(ctx); err != nil {
		return err
	}
	d := w.cfg.dispatcher(w.client.logger)
	// Jobs run on a context of their own, cancelled only when the
	// shutdown timeout runs out.
	jobCtx, cancelJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelJobs()

	var running sync.WaitGroup
	var iterators []jetstream.MessagesContext
	stopAll := func() {
		for _, it := range iterators {
			it.Stop()
		}
	}
	for _, q := range slices.Sorted(maps.Keys(w.cfg.Queues)) {
		n := w.cfg.Queues[q]
		cons, err := w.client.work.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
			Durable:       w.client.name + "_" + q,
			FilterSubject: w.client.name + ".jobs." + q + ".>",
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       w.cfg.RescueAfter,
			MaxDeliver:    -1, // attempts are counted by the worker, which discards
			MaxAckPending: max(1000, 4*n),
		})
		if err != nil {
			stopAll()
			return fmt.Errorf("jobs: consumer for %s: %w", q, err)
		}
		it, err := cons.Messages(jetstream.PullMaxMessages(n))
		if err != nil {
			stopAll()
			return fmt.Errorf("jobs: consume %s: %w", q, err)
		}
		iterators = append(iterators, it)
		for range n {
			running.Go(func() {
				for {
					msg, err := it.Next()
					if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
						return // stopped for shutdown
					}
					if err != nil {
						// Missed heartbeats and the like: the iterator
						// recovers by itself.
						w.client.logger.WarnContext(ctx, "receive job", slog.String("queue", q), slog.Any("error", err))
						time.Sleep(100 * time.Millisecond)
						continue
					}
					w.handle(ctx, jobCtx, d, msg)
				}
			})
		}
	}

	var wg sync.WaitGroup
	relayErr := make(chan error, 1)
	wg.Go(func() { relayErr <- w.client.relay(ctx, w.cfg.RelayInterval) })
	wg.Go(func() { runPeriodic(ctx, w.client, w.cfg.Periodic) })
	<-ctx.Done()
	wg.Wait()
	stopAll()

	done := make(chan struct{})
	go func() { running.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(w.cfg.ShutdownTimeout):
		w.client.logger.WarnContext(ctx, "jobs still running after the shutdown timeout; cancelling them")
		cancelJobs()
		<-done
	}
	return <-relayErr
}

// handle runs one message: acknowledged on success, sent to the dead-letter
// stream after its last attempt, otherwise redelivered after the backoff.
func (w *Worker) handle(runCtx, jobCtx context.Context, d *dispatcher, msg jetstream.Msg) {
	c := w.client
	var env envelope
	md, err := msg.Metadata()
	if err == nil {
		err = json.Unmarshal(msg.Data(), &env)
	}
	if err != nil {
		c.logger.ErrorContext(runCtx, "undecodable job message; dropped", slog.String("subject", msg.Subject()), slog.Any("error", err))
		_ = msg.Term()
		return
	}
	m := meta{
		ID: env.ID, Kind: env.Kind, Queue: env.Queue, Tenant: env.Tenant, Key: env.Key,
		Attempt: int(md.NumDelivered), MaxAttempts: env.MaxAttempts, Since: env.due(), //nolint:gosec // attempts fit
	}

	// Heartbeats keep JetStream from redelivering a job that is still running.
	beat, stopBeat := context.WithCancel(jobCtx)
	go func() {
		t := time.NewTicker(w.cfg.RescueAfter / 3)
		defer t.Stop()
		for {
			select {
			case <-beat.Done():
				return
			case <-t.C:
				_ = msg.InProgress()
			}
		}
	}()
	runErr := d.run(jobCtx, m, env.Args)
	stopBeat()

	ctx := context.WithoutCancel(runCtx)
	switch {
	case runErr == nil && env.UniqueKey != "":
		// Free the key before acknowledging: should that fail, the
		// redelivery finds the job processed and frees it then.
		if err := c.releaseUnique(ctx, m.ID); err != nil {
			c.logger.WarnContext(ctx, "release unique job; it will be redelivered", slog.String("job_id", m.ID), slog.Any("error", err))
			_ = msg.NakWithDelay(w.cfg.Backoff(1))
			return
		}
		w.ack(ctx, msg, m)
	case runErr == nil:
		w.ack(ctx, msg, m)
	case jobCtx.Err() != nil:
		// Shutdown cut the job short: hand it straight to another worker.
		_ = msg.Nak()
	case m.Attempt >= m.MaxAttempts || IsPermanent(runErr):
		w.discard(ctx, msg, m, runErr)
	default:
		next := w.cfg.Backoff(m.Attempt)
		f, err := json.Marshal(failure{
			Queue: m.Queue, Kind: m.Kind, Tenant: m.Tenant, Attempt: m.Attempt, MaxAttempts: m.MaxAttempts,
			Error: runErr.Error(), NextAt: time.Now().Add(next).UTC(),
		})
		if err == nil {
			_, err = c.failed.Put(ctx, m.ID, f)
		}
		if err != nil {
			c.logger.WarnContext(ctx, "record failed job", slog.String("job_id", m.ID), slog.Any("error", err))
		}
		_ = msg.NakWithDelay(next)
	}
}

func (w *Worker) ack(ctx context.Context, msg jetstream.Msg, m meta) {
	if err := msg.DoubleAck(ctx); err != nil {
		// The effect is committed with its key: a redelivery is a no-op.
		w.client.logger.WarnContext(ctx, "acknowledge job", slog.String("job_id", m.ID), slog.Any("error", err))
	}
	if m.Attempt > 1 {
		_ = w.client.failed.Delete(ctx, m.ID)
	}
}

// discard moves the job to the dead-letter stream, then acknowledges it.
func (w *Worker) discard(ctx context.Context, msg jetstream.Msg, m meta, runErr error) {
	c := w.client
	dead := &nats.Msg{Subject: c.deadSubject(m.Queue, m.ID), Data: msg.Data(), Header: nats.Header{}}
	dead.Header.Set(headerError, runErr.Error())
	dead.Header.Set(headerAttempt, strconv.Itoa(m.Attempt))
	if _, err := c.js.PublishMsg(ctx, dead, jetstream.WithMsgID(fmt.Sprintf("%s-dead-%d", m.ID, m.Attempt))); err != nil {
		c.logger.ErrorContext(ctx, "move job to the dead-letter stream; it will be redelivered", slog.String("job_id", m.ID), slog.Any("error", err))
		_ = msg.NakWithDelay(w.cfg.Backoff(m.Attempt))
		return
	}
	_ = c.failed.Delete(ctx, m.ID)
	if err := c.releaseUnique(ctx, m.ID); err != nil {
		c.logger.ErrorContext(ctx, "discarded unique job keeps its key", slog.String("job_id", m.ID), slog.Any("error", err))
	}
	if err := msg.DoubleAck(ctx); err != nil {
		c.logger.WarnContext(ctx, "acknowledge discarded job", slog.String("job_id", m.ID), slog.Any("error", err))
	}
}

// brokerDefaults fills in what JetStream needs of a WorkerConfig.
// RescueAfter is the consumer's AckWait; running jobs send heartbeats, so
// it only needs to cover a stalled worker; default 30s.
//
//nolint:unparam // every broker's brokerDefaults has this shape; River's fails
func (cfg WorkerConfig) brokerDefaults() (WorkerConfig, error) {
	if cfg.RescueAfter <= 0 {
		cfg.RescueAfter = 30 * time.Second
	}
	return cfg, nil
}

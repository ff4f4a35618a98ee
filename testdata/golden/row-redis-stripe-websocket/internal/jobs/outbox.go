package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/acme/shop-api/internal/postgres/db"
)

// The transactional outbox. Postgres and the broker share no transaction,
// so Enqueue writes the job to the job_outbox table in the caller's
// transaction and the relay (part of every worker) publishes committed,
// due jobs to the broker, then deletes them. A relay that dies after
// publishing but before deleting publishes again on restart.
// The broker's publish deduplicates the copy by the job's id (see its
// file), and the idempotency key makes any copy that slips through a no-op.
//
// Every job has an id of its own, unique jobs included: the broker's
// deduplication is only for the relay's copies. A unique job's key is held
// in the job_unique table, taken in the enqueueing transaction and released
// by the worker once the job has completed or been discarded (or by
// Cancel), so a twin is refused exactly as long as the job may still run,
// however long that is, and a job enqueued after it always runs.

// outboxChannel is the Postgres notification channel that wakes the relay;
// the job_outbox_notify trigger notifies it.
const outboxChannel = "job_outbox"

// relayBatch is how many jobs the relay publishes per transaction.
const relayBatch = 500

// Enqueue writes job to the outbox in tx: the job exists if and only if tx
// commits, and is published to the broker once it is due.
func (c *Client) Enqueue(ctx context.Context, tx pgx.Tx, job Job) (Enqueued, error) {
	env, opts, err := newEnvelope(job, time.Now())
	if err != nil {
		return Enqueued{}, err
	}
	env.ID = NewID()
	q := db.New(tx)
	if opts.UniqueKey != "" {
		holder, holdErr := holdUnique(ctx, q, uniqueKey(env), env.ID)
		if holdErr != nil {
			return Enqueued{}, fmt.Errorf("jobs: enqueue %s: %w", env.Kind, holdErr)
		}
		if holder != env.ID {
			return Enqueued{ID: holder, Duplicate: true}, nil
		}
	}
	payload, err := json.Marshal(env)
	if err != nil {
		return Enqueued{}, fmt.Errorf("jobs: encode %s: %w", env.Kind, err)
	}
	runAt := opts.RunAt
	if runAt.IsZero() {
		runAt = env.EnqueuedAt
	}
	if err := q.InsertOutboxJob(ctx, db.InsertOutboxJobParams{
		ID: env.ID, Queue: env.Queue, Kind: env.Kind, Payload: string(payload),
		RunAt: pgtype.Timestamptz{Time: runAt, Valid: true},
	}); err != nil {
		return Enqueued{}, fmt.Errorf("jobs: enqueue %s: %w", env.Kind, err)
	}
	// A trigger on job_outbox notifies the relay, at commit.
	return Enqueued{ID: env.ID}, nil
}

// holdUnique takes key for job id and returns id, or returns the id of the
// unfinished job already holding key.
func holdUnique(ctx context.Context, q *db.Queries, key, id string) (string, error) {
	// No row means the holder committed after the statement's snapshot:
	// the next run sees it, or takes the key if the holder has finished
	// meanwhile. Each miss needs another transaction to commit in between,
	// so a few tries are plenty.
	for range 5 {
		holder, err := q.HoldUniqueJob(ctx, db.HoldUniqueJobParams{UniqueKey: key, JobID: id})
		if !errors.Is(err, pgx.ErrNoRows) {
			return holder, err
		}
	}
	return "", errors.New("unique key keeps changing hands")
}

// releaseUnique frees the unique key job id holds, if any. Workers call it
// when the job has completed or been discarded, Cancel when it cancels it;
// releasing twice is harmless, and never frees a later twin's key.
func (c *Client) releaseUnique(ctx context.Context, id string) error {
	if err := db.New(c.pool).ReleaseUniqueJob(ctx, id); err != nil {
		return fmt.Errorf("jobs: release unique key of %s: %w", id, err)
	}
	return nil
}

// due returns when the job became due to run.
func (e envelope) due() time.Time {
	if e.RunAt.After(e.EnqueuedAt) {
		return e.RunAt
	}
	return e.EnqueuedAt
}

// uniqueKey is what makes two unique jobs twins: their kind, tenant and
// UniqueKey, hashed to a fixed length.
func uniqueKey(env envelope) string {
	sum := sha256.Sum256([]byte(env.Kind + "\x00" + env.Tenant.ID + "\x00" + env.UniqueKey))
	return hex.EncodeToString(sum[:])
}

// outboxJob is a due job read from the outbox.
type outboxJob struct {
	id      string
	queue   string
	payload []byte
	env     envelope
}

// relay publishes due outbox jobs until ctx is done: whenever a commit
// notifies it, and every interval for jobs that became due (scheduled) or
// were missed while no relay listened.
func (c *Client) relay(ctx context.Context, interval time.Duration) error {
	conn, err := c.session.Acquire(ctx) // LISTEN needs a session of its own
	if err != nil {
		if ctx.Err() != nil {
			// Stopped before it started: a shutdown, not a failure.
			return nil
		}
		return fmt.Errorf("jobs: relay connection: %w", err)
	}
	defer func() {
		// The connection goes back to the pool: stop listening on it.
		unlistenCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_, _ = conn.Exec(unlistenCtx, "UNLISTEN *")
		conn.Release()
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+outboxChannel); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("jobs: relay listen: %w", err)
	}
	for {
		for {
			n, err := c.relayOnce(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				c.logger.ErrorContext(ctx, "outbox relay failed; retrying", slog.Any("error", err))
				break
			}
			if n < relayBatch {
				break
			}
		}
		waitCtx, cancel := context.WithTimeout(ctx, interval)
		_, err := conn.Conn().WaitForNotification(waitCtx)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("jobs: relay wait: %w", err)
		}
	}
}

// relayOnce publishes one batch of due jobs and deletes them, in one
// transaction whose row locks keep other relays off the same jobs. It
// returns how many it published.
func (c *Client) relayOnce(ctx context.Context) (int, error) {
	var n int
	err := pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		q := db.New(tx)
		rows, err := q.ClaimDueOutboxJobs(ctx, relayBatch)
		if err != nil || len(rows) == 0 {
			return err
		}
		batch := make([]outboxJob, len(rows))
		ids := make([]string, len(rows))
		for i, r := range rows {
			batch[i] = outboxJob{id: r.ID, queue: r.Queue, payload: r.Payload}
			if err := json.Unmarshal(r.Payload, &batch[i].env); err != nil {
				return fmt.Errorf("decode outbox job %s: %w", r.ID, err)
			}
			ids[i] = r.ID
		}
		if err := c.publish(ctx, batch); err != nil {
			return err
		}
		if c.afterPublish != nil {
			c.afterPublish()
		}
		if err := q.DeleteOutboxJobs(ctx, ids); err != nil {
			return fmt.Errorf("delete relayed jobs: %w", err)
		}
		n = len(batch)
		return nil
	})
	return n, err
}

// cancelOutbox deletes a job that has not left the outbox yet (a scheduled
// one, or one the relay has not reached), with its unique key, and reports
// whether it did.
func (c *Client) cancelOutbox(ctx context.Context, id string) (bool, error) {
	var n int64
	err := pgx.BeginFunc(ctx, c.pool, func(tx pgx.Tx) error {
		q := db.New(tx)
		var err error
		if n, err = q.DeleteOutboxJob(ctx, id); err != nil || n == 0 {
			return err
		}
		return q.ReleaseUniqueJob(ctx, id)
	})
	if err != nil {
		return false, fmt.Errorf("jobs: cancel %s: %w", id, err)
	}
	return n == 1, nil
}

// matches reports whether info passes q's filters (its state aside), for
// brokers that cannot filter on their own.
func (q Query) matches(info *Info) bool {
	return (q.Kind == "" || info.Kind == q.Kind) &&
		(q.Queue == "" || info.Queue == q.Queue) &&
		(q.Tenant == "" || info.Tenant.String() == q.Tenant)
}

// listOutbox returns the jobs q selects among those still in the outbox:
// not due yet (scheduled) or due and not yet published.
func (c *Client) listOutbox(ctx context.Context, q Query, scheduled bool, limit int) ([]Info, error) {
	rows, err := db.New(c.pool).ListOutboxJobs(ctx, db.ListOutboxJobsParams{
		Scheduled: scheduled, Kind: q.Kind, Queue: q.Queue, Tenant: q.Tenant, MaxJobs: int32(min(limit, math.MaxInt32)), //nolint:gosec // bounded just before
	})
	if err != nil {
		return nil, fmt.Errorf("jobs: list the outbox: %w", err)
	}
	infos := make([]Info, 0, len(rows))
	for _, r := range rows {
		var env envelope
		_ = json.Unmarshal([]byte(r.Payload), &env) // a foreign row still lists, without its details
		infos = append(infos, Info{
			ID: r.ID, Kind: env.Kind, Queue: env.Queue, Tenant: env.Tenant,
			MaxAttempts: env.MaxAttempts, At: r.RunAt.Time,
		})
	}
	return infos, nil
}

// outboxDepth counts the jobs waiting in the outbox, by queue.
func (c *Client) outboxDepth(ctx context.Context) ([]depth, error) {
	rows, err := db.New(c.pool).CountOutboxJobs(ctx)
	if err != nil {
		return nil, fmt.Errorf("jobs: outbox depth: %w", err)
	}
	ds := make([]depth, 0, len(rows))
	for _, r := range rows {
		ds = append(ds, depth{queue: r.Queue, state: r.State, count: r.Jobs})
	}
	return ds, nil
}

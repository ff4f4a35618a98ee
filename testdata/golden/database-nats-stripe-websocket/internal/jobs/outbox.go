package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"ledger.internal/svc/internal/postgres/db"
)

// The transactional outbox. Postgres and the broker share no transaction,
// so Enqueue writes the job to the job_outbox table in the caller's
// transaction and the relay (part of every worker) publishes committed,
// due jobs to the broker, then deletes them. A relay that dies after
// publishing but before deleting publishes again on restart.
// The broker's publish deduplicates the copy by the job's id (see its
// file), and the idempotency key makes any copy that slips through a no-op.

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
	if opts.UniqueKey != "" {
		// Every copy of a unique job has the same id, so the outbox and the
		// broker both refuse a second one while the first is there.
		env.ID = uniqueID(env)
	}
	payload, err := json.Marshal(env)
	if err != nil {
		return Enqueued{}, fmt.Errorf("jobs: encode %s: %w", env.Kind, err)
	}
	runAt := opts.RunAt
	if runAt.IsZero() {
		runAt = env.EnqueuedAt
	}
	n, err := db.New(tx).InsertOutboxJob(ctx, db.InsertOutboxJobParams{
		ID: env.ID, Queue: env.Queue, Kind: env.Kind, Payload: string(payload),
		RunAt: pgtype.Timestamptz{Time: runAt, Valid: true},
	})
	if err != nil {
		return Enqueued{}, fmt.Errorf("jobs: enqueue %s: %w", env.Kind, err)
	}
	// A trigger on job_outbox notifies the relay, at commit.
	return Enqueued{ID: env.ID, Duplicate: n == 0}, nil
}

// due returns when the job became due to run.
func (e envelope) due() time.Time {
	if e.RunAt.After(e.EnqueuedAt) {
		return e.RunAt
	}
	return e.EnqueuedAt
}

// uniqueID derives a unique job's id from its kind, tenant and unique key.
func uniqueID(env envelope) string {
	sum := sha256.Sum256([]byte(env.Kind + "\x00" + env.Tenant.ID + "\x00" + env.UniqueKey))
	h := hex.EncodeToString(sum[:16])
	return "u" + h
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
	conn, err := c.pool.Acquire(ctx)
	if err != nil {
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
// one, or one the relay has not reached) and reports whether it did.
func (c *Client) cancelOutbox(ctx context.Context, id string) (bool, error) {
	n, err := db.New(c.pool).DeleteOutboxJob(ctx, id)
	if err != nil {
		return false, fmt.Errorf("jobs: cancel %s: %w", id, err)
	}
	return n == 1, nil
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

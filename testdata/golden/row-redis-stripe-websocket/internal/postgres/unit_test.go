package postgres_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/require"

	"github.com/acme/shop-api/internal/domain"
	"github.com/acme/shop-api/internal/jobs"
	"github.com/acme/shop-api/internal/postgres"
)

// seams records what units hand their seams. Its enqueuer notes the id of
// the transaction each job was enqueued in, so that a test can ask
// Postgres whether that transaction committed: the job is in the
// transaction exactly when its fate is the change's.
type seams struct {
	mu       sync.Mutex
	enqueued []enqueued
	audited  []postgres.AuditEntry
	events   []postgres.Event
}

type enqueued struct {
	job jobs.Job
	xid string
}

func (s *seams) Enqueue(ctx context.Context, tx pgx.Tx, job jobs.Job) (jobs.Enqueued, error) {
	var xid string
	if err := tx.QueryRow(ctx, `SELECT pg_current_xact_id()::text`).Scan(&xid); err != nil {
		return jobs.Enqueued{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.enqueued = append(s.enqueued, enqueued{job: job, xid: xid})
	return jobs.Enqueued{ID: xid}, nil
}

func (s *seams) RecordAudit(_ context.Context, _ pgx.Tx, e *postgres.AuditEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e.ID = strconv.Itoa(len(s.audited) + 1)
	e.At = time.Now()
	s.audited = append(s.audited, *e)
	return nil
}

func (s *seams) Publish(_ context.Context, e postgres.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, e)
}

func (s *seams) published() []postgres.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]postgres.Event(nil), s.events...)
}

// setupUnits is a tenancy bundle whose units use recording seams, with a
// tenant to work in.
func setupUnits(t *testing.T) (*tenantsBundle, *seams, domain.Tenant) {
	t.Helper()
	b := setupTenants(t)
	s := &seams{}
	b.tenants.UseSeams(postgres.Seams{Jobs: s, Audit: s, Events: s})
	acme := b.create(t, "acme")
	return b, s, acme
}

type testArgs struct{}

func (testArgs) Kind() string { return "test" }

// change is a typical state change: it writes, enqueues and audits (which
// publishes its event after the commit), then ends with err (nil commits).
func change(ctx context.Context, t *testing.T, u *postgres.Unit, s *seams, err error) error {
	t.Helper()
	p, cerr := u.Queries.CreateProject(ctx, pgtype.Text{String: "apollo", Valid: true})
	require.NoError(t, cerr)
	_, qerr := u.Enqueue(ctx, jobs.Job{Args: testArgs{}})
	require.NoError(t, qerr)
	require.NoError(t, u.Audit(ctx, "project.create", "project:"+p.ID.String(), nil, p.Name))
	require.Empty(t, s.published(), "an event is published after the commit, not before")
	return err
}

// xactStatus asks Postgres whether the transaction xid committed.
func xactStatus(t *testing.T, b *tenantsBundle, tn domain.Tenant, xid string) string {
	t.Helper()
	var status string
	require.NoError(t, b.tenants.InTenantTx(t.Context(), tn, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT pg_xact_status($1::xid8)`, xid).Scan(&status)
	}))
	return status
}

func TestUnitCommitsEverythingTogether(t *testing.T) {
	t.Parallel()
	b, s, acme := setupUnits(t)
	alice := domain.Principal{UserID: "user-alice", APIKey: &domain.KeyPrincipal{ID: "key-1"}}
	ctx := domain.WithRequestID(domain.WithPrincipal(t.Context(), alice), "req-42")

	require.NoError(t, b.tenants.InTenant(ctx, acme, func(ctx context.Context, u *postgres.Unit) error {
		require.Equal(t, acme, u.Tenant())
		return change(ctx, t, u, s, nil)
	}))

	require.Equal(t, []string{"apollo"}, names(listAll(t, b.tenants, acme)))
	require.Len(t, s.enqueued, 1)
	require.Equal(t, jobs.Tenant{ID: acme.ID, Slug: acme.Slug}, s.enqueued[0].job.Tenant, "a unit's job runs in its tenant")
	require.Equal(t, "committed", xactStatus(t, b, acme, s.enqueued[0].xid))
	require.Len(t, s.audited, 1)
	e := s.audited[0]
	require.Equal(t, "project.create", e.Action)
	require.Equal(t, acme, e.Tenant)
	require.Equal(t, "user-alice", e.UserID, "the principal comes from the context")
	require.Equal(t, "key-1", e.APIKeyID)
	require.Equal(t, "req-42", e.RequestID, "the request id comes from the context")
	require.Equal(t, "project", e.TargetType)
	require.NotEmpty(t, e.TargetID)
	require.Equal(t, []postgres.Event{postgres.EventOf(&e)}, s.published(), "the event is the audit entry's")
}

func TestUnitRollsBackEverythingOnError(t *testing.T) {
	t.Parallel()
	b, s, acme := setupUnits(t)
	boom := errors.New("boom")

	err := b.tenants.InTenant(t.Context(), acme, func(ctx context.Context, u *postgres.Unit) error {
		return change(ctx, t, u, s, boom)
	})

	require.ErrorIs(t, err, boom)
	require.Empty(t, listAll(t, b.tenants, acme))
	require.Len(t, s.enqueued, 1)
	require.Equal(t, "aborted", xactStatus(t, b, acme, s.enqueued[0].xid), "the job rolls back with the data")
	require.Empty(t, s.published(), "a rolled-back change publishes nothing")
}

func TestUnitRollsBackEverythingOnPanic(t *testing.T) {
	t.Parallel()
	b, s, acme := setupUnits(t)

	require.PanicsWithValue(t, "boom", func() {
		_ = b.tenants.InTenant(t.Context(), acme, func(ctx context.Context, u *postgres.Unit) error {
			require.NoError(t, change(ctx, t, u, s, nil))
			panic("boom")
		})
	})

	require.Empty(t, listAll(t, b.tenants, acme))
	require.Len(t, s.enqueued, 1)
	require.Equal(t, "aborted", xactStatus(t, b, acme, s.enqueued[0].xid), "the job rolls back with the data")
	require.Empty(t, s.published(), "a panicking change publishes nothing")
}

func TestUnitAfterCommitRunsInOrderOnCommitOnly(t *testing.T) {
	t.Parallel()
	b, _, acme := setupUnits(t)
	var ran []string
	require.NoError(t, b.tenants.InTenant(t.Context(), acme, func(_ context.Context, u *postgres.Unit) error {
		u.AfterCommit(func(context.Context) { ran = append(ran, "first") })
		u.AfterCommit(func(ctx context.Context) {
			require.NoError(t, ctx.Err(), "after-commit work is not canceled with the request")
			ran = append(ran, "second")
		})
		require.Empty(t, ran)
		return nil
	}))
	require.Equal(t, []string{"first", "second"}, ran)

	ran = nil
	err := b.tenants.InTenant(t.Context(), acme, func(ctx context.Context, u *postgres.Unit) error {
		u.AfterCommit(func(context.Context) { ran = append(ran, "rolled back") })
		_, err := u.Queries.GetProject(ctx, pgtype.UUID{Valid: true}) // no such project: the unit fails
		return err
	})
	require.ErrorIs(t, err, pgx.ErrNoRows)
	require.Empty(t, ran)
}

func TestUnitRefusesAnotherTenantsJob(t *testing.T) {
	t.Parallel()
	b, s, acme := setupUnits(t)
	err := b.tenants.InTenant(t.Context(), acme, func(ctx context.Context, u *postgres.Unit) error {
		_, err := u.Enqueue(ctx, jobs.Job{Tenant: jobs.Tenant{ID: "other", Slug: "globex"}, Args: testArgs{}})
		return err
	})
	require.Equal(t, domain.EINTERNAL, domain.ErrorCode(err))
	require.Empty(t, s.enqueued)
}

// A job's handler gets the transaction of its tenant's scope; the unit of
// that transaction is in its context, with the same seams.
func TestUnitFromTheContextOfInTenantTx(t *testing.T) {
	t.Parallel()
	b, s, acme := setupUnits(t)
	require.NoError(t, b.tenants.InTenantTx(t.Context(), acme, func(ctx context.Context, tx pgx.Tx) error {
		u, ok := postgres.UnitFrom(ctx)
		require.True(t, ok)
		require.Same(t, tx, u.Tx())
		return u.Audit(ctx, "job.done", "job:42", nil, nil)
	}))
	want := postgres.Event{ID: "1", Tenant: acme, Type: "job.done", TargetType: "job", TargetID: "42", At: s.audited[0].At}
	require.Equal(t, []postgres.Event{want}, s.published())

	_, ok := postgres.UnitFrom(t.Context())
	require.False(t, ok)
}

// Without seams a unit still works: audit entries and events go nowhere,
// and enqueueing, which would lose a job, fails.
func TestUnitWithoutSeams(t *testing.T) {
	t.Parallel()
	b := setupTenants(t)
	acme := b.create(t, "acme")
	err := b.tenants.InTenant(t.Context(), acme, func(ctx context.Context, u *postgres.Unit) error {
		require.NoError(t, u.Audit(ctx, "project.create", "project:x", nil, nil))
		_, err := u.Enqueue(ctx, jobs.Job{Args: testArgs{}})
		return err
	})
	require.Equal(t, domain.EINTERNAL, domain.ErrorCode(err))
}

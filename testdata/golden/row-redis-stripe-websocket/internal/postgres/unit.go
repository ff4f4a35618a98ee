package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/acme/shop-api/internal/domain"
	"github.com/acme/shop-api/internal/jobs"
	"github.com/acme/shop-api/internal/postgres/tenantdb"
)

// Unit is one state change in a tenant: the transaction InTenant confined
// to the tenant, with what every change needs besides its queries. Jobs
// are enqueued in the transaction, audit entries are recorded in it, and
// events are published only once it has committed, so a rolled-back change
// leaves no job, no audit entry and no event behind. Features that act on
// every change (the audit log, realtime events) plug in here, through
// Seams, instead of into each handler.
//
// A Unit is valid only inside the function InTenant hands it to.
type Unit struct {
	// Queries are the tenant queries on the unit's transaction.
	Queries *tenantdb.Queries

	tx          pgx.Tx
	tenant      domain.Tenant
	seams       Seams
	afterCommit []func(context.Context)
	// queued are the audit entries to send with the COMMIT (see commit).
	queued []*AuditEntry
}

// Seams are what a Unit hands its jobs, audit entries and events to. The
// zero value refuses to enqueue (there is no job client to enqueue with),
// drops audit entries, events and access changes.
type Seams struct {
	// Jobs enqueues in a transaction: *jobs.Client.
	Jobs Enqueuer
	// Audit records audit entries in the unit's transaction. The audit log
	// plugs in here; until then entries are dropped.
	Audit AuditRecorder
	// Events receives the events of the unit's audit entries after it
	// commits. Realtime plugs in here; until then events are dropped.
	Events Publisher
	// Access is told of the control-plane changes that take access away,
	// once they committed (see AccessChange). Realtime plugs in here; until
	// then they are told to no one.
	Access AccessWatcher
}

// Enqueuer enqueues a job in a transaction, so that the job exists if and
// only if the transaction commits. *jobs.Client is one, for every broker.
type Enqueuer interface {
	Enqueue(ctx context.Context, tx pgx.Tx, job jobs.Job) (jobs.Enqueued, error)
}

// AuditEntry is one recorded change: who (the principal and request of
// the context), what (Action on Target) and the state around it. It is
// the one record of a change: the realtime event of the change is derived
// from it (see Event), so the two never disagree.
type AuditEntry struct {
	// ID identifies the entry among its tenant's entries; the recorder
	// sets it. It is also the id of the entry's event.
	ID string
	// At is when the change was recorded; the recorder sets it.
	At         time.Time
	Tenant     domain.Tenant
	Action     string // what happened, e.g. "project.create"
	TargetType string // the kind of object it happened to, e.g. "project"
	TargetID   string // that object's id
	Before     any    // the state before the change; nil for a creation
	After      any    // the state after it; nil for a deletion
	UserID     string // the user, or for an API key the member who made it; "" for a job
	APIKeyID   string // the API key the change came with, if any
	RequestID  string // the request the change was made in; "" outside one
	IP         string // the client's address; "" outside a request
	UserAgent  string // the client's User-Agent; "" outside a request
	// Hash is the entry's link in its tenant's hash chain; the recorder
	// sets it (see AuditLog).
	Hash []byte
}

// AuditRecorder records an audit entry in the transaction of the change
// it describes, so the entry commits or rolls back with it. It sets the
// entry's ID and At.
type AuditRecorder interface {
	RecordAudit(ctx context.Context, tx pgx.Tx, e *AuditEntry) error
}

// auditQueuer is an AuditRecorder that can also queue a unit's entries in
// the batch that commits it, so that recording them costs the change no
// round trip: the AuditLog is one.
type auditQueuer interface {
	queueAudit(b *pgx.Batch, entries []*AuditEntry) error
}

// Event tells that a change was made: the event of an audit entry, with
// the entry's id, action and target and nothing of its before and after
// (a subscriber that may see the target reads it).
type Event struct {
	ID         string // the audit entry's ID
	Tenant     domain.Tenant
	Type       string // the entry's action, e.g. "project.create"
	TargetType string
	TargetID   string
	At         time.Time
}

// EventOf is the event of the audit entry e.
func EventOf(e *AuditEntry) Event {
	return Event{ID: e.ID, Tenant: e.Tenant, Type: e.Action, TargetType: e.TargetType, TargetID: e.TargetID, At: e.At}
}

// Publisher delivers events after the unit that made them committed. It
// cannot fail the change, which has already happened: it handles (logs,
// retries) its own errors.
type Publisher interface {
	Publish(ctx context.Context, e Event)
}

// Tenant is the tenant the unit is confined to.
func (u *Unit) Tenant() domain.Tenant { return u.tenant }

// Tx is the unit's transaction, for hand-written SQL (unqualified names
// only: see InTenantTx).
func (u *Unit) Tx() pgx.Tx { return u.tx }

// Enqueue enqueues job in the unit's transaction. The job runs in the
// unit's tenant: its Tenant is set to it, and a job naming another tenant
// is refused.
func (u *Unit) Enqueue(ctx context.Context, job jobs.Job) (jobs.Enqueued, error) {
	want := jobs.Tenant{ID: u.tenant.ID, Slug: u.tenant.Slug}
	switch job.Tenant {
	case jobs.Tenant{}:
		job.Tenant = want
	case want:
	default:
		return jobs.Enqueued{}, domain.Errorf(domain.EINTERNAL, "a job for tenant %s enqueued in tenant %s", job.Tenant.Slug, u.tenant.Slug)
	}
	if u.seams.Jobs == nil {
		return jobs.Enqueued{}, domain.Errorf(domain.EINTERNAL, "tenant unit of work without a job client")
	}
	tx, err := u.controlTx(ctx)
	if err != nil {
		return jobs.Enqueued{}, fmt.Errorf("enqueue: %w", err)
	}
	return u.seams.Jobs.Enqueue(ctx, tx, job)
}

// controlTx is the transaction the unit writes the control plane in: the
// unit's own (the control plane is in the same database).
func (u *Unit) controlTx(context.Context) (pgx.Tx, error) { //nolint:unparam // the same as database mode's, which begins one
	return u.tx, nil
}

// Audit records that action happened to target ("type:id", as in
// "project:<id>"), with the state before and after, by the principal of
// the request ctx belongs to. This is the one way a change is recorded:
// the entry is written in the unit's transaction and, once the unit has
// committed, its event is published; if the unit rolls back there is
// neither.
func (u *Unit) Audit(ctx context.Context, action, target string, before, after any) error {
	e := newAuditEntry(ctx, u.tenant, action, target, before, after)
	if _, ok := u.seams.Audit.(auditQueuer); ok {
		// Written with the COMMIT, in its round trip: see commit.
		u.queued = append(u.queued, e)
	} else if u.seams.Audit != nil {
		if err := u.seams.Audit.RecordAudit(ctx, u.tx, e); err != nil {
			return fmt.Errorf("audit %s %s: %w", action, target, err)
		}
	}
	if u.seams.Events != nil {
		// The event is made after the commit, when the entry has its id.
		u.AfterCommit(func(ctx context.Context) { u.seams.Events.Publish(ctx, EventOf(e)) })
	}
	return nil
}

// commit commits the unit with its queued audit entries: the entries and
// the COMMIT go to Postgres as one pipeline, in one round trip, so the log
// costs a change none of its own. An entry that fails skips the COMMIT
// (Postgres ignores the rest of a failed pipeline) and the unit's runner
// rolls back. With no entry queued it does nothing: the runner commits.
func (u *Unit) commit(ctx context.Context) error {
	q, ok := u.seams.Audit.(auditQueuer)
	if !ok || len(u.queued) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	if err := q.queueAudit(b, u.queued); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	b.Queue("COMMIT")
	if err := u.tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("commit with the audit log: %w", err)
	}
	return nil
}

// AfterCommit runs fn after the unit has committed, in the order the
// functions were added; never if it rolls back (an error or a panic).
// fn's context is not canceled with the request: the change is made.
func (u *Unit) AfterCommit(fn func(ctx context.Context)) {
	u.afterCommit = append(u.afterCommit, fn)
}

// committed runs the after-commit functions.
func (u *Unit) committed(ctx context.Context) error {
	ctx = context.WithoutCancel(ctx)
	for _, fn := range u.afterCommit {
		fn(ctx)
	}
	return nil
}

type unitKey struct{}

// UnitFrom returns the Unit whose transaction ctx runs in: a job's handler,
// which gets the transaction of jobs.TenantsScope, reaches the unit of
// that transaction (and so enqueues, audits and publishes) this way.
func UnitFrom(ctx context.Context) (*Unit, bool) {
	u, ok := ctx.Value(unitKey{}).(*Unit)
	return u, ok
}

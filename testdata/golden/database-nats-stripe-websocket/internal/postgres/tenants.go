package postgres

import (
	"cmp"
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"log/slog"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"ledger.internal/svc/internal/config"
	"ledger.internal/svc/internal/domain"
	"ledger.internal/svc/internal/postgres/db"
	"ledger.internal/svc/internal/postgres/tenantdb"
)

// tenantMigrations holds the tenant tables' schema: numbered goose SQL files
// that run once per tenant, inside the tenant's own database.
//
//go:embed tenantmigrations/*.sql
var tenantMigrations embed.FS

// DefaultResolveTTL bounds how stale a resolved tenant may be served when
// nothing vouches for it. A change to a tenant, made by any process, is
// invalidated in every process as soon as it commits (see
// tenant_watch.go), and while a process's listener proves it hears every
// change its entries live DefaultListeningTTL; when it has not proved so
// for DefaultResolveTTL (down, reconnecting, cut off), an entry older than
// DefaultResolveTTL is read again. Unknown slugs are never cached, so a
// new tenant resolves everywhere as soon as it is created. A tenant looked
// up in the last quarter of its lifetime is read again in the background
// (see tenantCache), so one in use does not expire.
const DefaultResolveTTL = 10 * time.Second

// DefaultListeningTTL is how long a resolved tenant is cached while the
// listener hears every change: the backstop for a change that notifies
// nobody (the trigger disabled, a restore with session_replication_role =
// replica). With 10,000 tenants in use, their refreshes are ~40 reads a second
// where DefaultResolveTTL alone would make over 1,000.
const DefaultListeningTTL = 5 * time.Minute

// TenantsOptions tunes OpenTenants; the zero value is the production setup.
type TenantsOptions struct {
	// AppName is the application_name of the connections.
	AppName string
	// Migrations replaces the embedded tenant migrations (tests inject
	// failing ones); nil means the embedded ones.
	Migrations fs.FS
	// ResolveTTL replaces DefaultResolveTTL when positive.
	ResolveTTL time.Duration
	// ListeningTTL replaces DefaultListeningTTL when positive; below the
	// resolve TTL, it is the resolve TTL.
	ListeningTTL time.Duration
	// Logger receives the tenant change listener's reconnections; nil
	// discards them.
	Logger *slog.Logger
	// MaxConnsAtLeast raises the connection limit of the control-plane pool to at least this many, so that a
	// worker has one per running job. Zero keeps pgx's default;
	// pool_max_conns in DATABASE_URL wins over both.
	MaxConnsAtLeast int32
	// MaxOwnedTenants caps the tenants one user may own: CreateOwned
	// refuses them one more (MAX_TENANTS_PER_USER); 0 is no cap. Tenants
	// made without an owner (the tenant create command) are not capped.
	MaxOwnedTenants int64
	// Tracer, when set, sees every statement of the control-plane
	// pool and of the tenants' pools: tests count
	// a request's round trips with it. The pipelines of ReadTenant reach
	// it when it is also a pgx.BatchTracer.
	Tracer pgx.QueryTracer
}

// ProblemTenantLimit is the problem type of a tenant creation refused
// because its owner owns as many tenants as a user may.
const ProblemTenantLimit = "/problems/tenant-limit"

// Tenants is the tenant registry in the control plane and the only way to
// reach tenant data: InTenant runs a function in a transaction confined to
// one tenant. How it is confined depends on the tenancy mode (database
// here; see tenant_database.go), the API does not.
type Tenants struct {
	pool       *pgxpool.Pool
	session    *pgxpool.Pool // for creations and deletions: pool, unless DATABASE_SESSION_URL is another
	queries    *db.Queries
	storage    *tenantStorage
	cache      *tenantCache
	watch      *tenantWatch
	migrations fs.FS
	versions   []int64 // versions of the tenant migrations, ascending
	seams      Seams
	maxOwned   int64          // TenantsOptions.MaxOwnedTenants
	refreshes  sync.WaitGroup // background refreshes of cached tenants
}

// OpenTenants connects to the control plane and the tenant storage
// described by cfg. Close it when done.
func OpenTenants(ctx context.Context, cfg config.Database, opts TenantsOptions) (*Tenants, error) {
	fsys := opts.Migrations
	if fsys == nil {
		sub, err := fs.Sub(tenantMigrations, "tenantmigrations")
		if err != nil {
			return nil, fmt.Errorf("tenant migrations: %w", err)
		}
		fsys = sub
	}
	versions, err := migrationVersions(fsys)
	if err != nil {
		return nil, err
	}
	ttl := cmp.Or(max(opts.ResolveTTL, 0), DefaultResolveTTL)
	listeningTTL := cmp.Or(max(opts.ListeningTTL, 0), DefaultListeningTTL)
	var sizing []Option
	if opts.MaxConnsAtLeast > 0 {
		sizing = append(sizing, MinMaxConns(opts.MaxConnsAtLeast))
	}
	configure := func(c *pgxpool.Config) {
		configureTenantPool(c)
		if opts.Tracer != nil {
			c.ConnConfig.Tracer = opts.Tracer
		}
	}
	pool, err := open(ctx, cfg.URL, opts.AppName, configure, sizing...)
	if err != nil {
		return nil, err
	}
	session := pool
	if cfg.SessionURL != "" && cfg.SessionURL != cfg.URL {
		if session, err = open(ctx, cfg.SessionURL, opts.AppName+"-session", configure); err != nil {
			pool.Close()
			return nil, err
		}
	}
	ts := &Tenants{
		pool:       pool,
		session:    session,
		queries:    db.New(controlPlaneDB(pool)),
		cache:      newTenantCache(ttl, listeningTTL, time.Now),
		migrations: fsys,
		versions:   versions,
		maxOwned:   opts.MaxOwnedTenants,
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ts.watch = newTenantWatch(ts, session.Config().ConnConfig.Copy(), logger)
	ts.storage, err = newTenantStorage(ctx, ts, cfg, opts.AppName)
	if err != nil {
		ts.closePools()
		return nil, err
	}
	if opts.Logger != nil { // a process that logs (serve, worker); one-off commands skip the query
		ts.storage.warnOverCapacity(ctx, logger)
	}
	return ts, nil
}

// Close releases every connection.
func (ts *Tenants) Close() {
	ts.watch.stop()
	ts.refreshes.Wait()
	ts.storage.close()
	ts.closePools()
}

func (ts *Tenants) closePools() {
	if ts.session != ts.pool {
		ts.session.Close()
	}
	ts.pool.Close()
}

// Ping checks that the control-plane database answers, on DATABASE_URL
// and, when it is another, on DATABASE_SESSION_URL.
func (ts *Tenants) Ping(ctx context.Context) error {
	if err := ts.pool.Ping(ctx); err != nil {
		return err
	}
	if ts.session != ts.pool {
		if err := ts.session.Ping(ctx); err != nil {
			return fmt.Errorf("DATABASE_SESSION_URL: %w", err)
		}
	}
	return nil
}

// LatestVersion is the newest tenant migration this binary knows.
func (ts *Tenants) LatestVersion() int64 {
	if len(ts.versions) == 0 {
		return 0
	}
	return ts.versions[len(ts.versions)-1]
}

// InTenant runs fn in a transaction confined to tenant t and commits it when
// fn returns nil (otherwise, or if fn panics, it rolls back and returns
// fn's error). fn gets the transaction as a Unit: the queries on it, which
// see and change t's data only, and the unit's enqueue, audit and
// publish-after-commit (see Unit). The after-commit functions run once the
// transaction has committed, before InTenant returns. The confinement ends
// with the transaction, so the pooled connection never carries t into
// another request. A zero Tenant is refused: there is no tenant-less way in.
func (ts *Tenants) InTenant(ctx context.Context, t domain.Tenant, fn func(context.Context, *Unit) error) error {
	var u *Unit
	defer func() { u.abandon(ctx) }()
	err := ts.inTenantTx(ctx, t, func(tx pgx.Tx) error {
		u = &Unit{Queries: tenantdb.New(tx), tx: tx, tenant: t, seams: ts.seams, pool: ts.pool}
		uctx := context.WithValue(ctx, unitKey{}, u)
		if err := fn(uctx, u); err != nil {
			return err
		}
		if check, ok := ctx.Value(commitCheckKey{}).(func(context.Context, pgx.Tx) error); ok {
			if err := check(uctx, tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return u.committed(ctx)
}

// ReadTenant runs fn, a read of t's data in one statement (a page, a
// row), in t's scope: confined exactly as InTenant's transactions are, in
// one round trip instead of three (no BEGIN and COMMIT of their own; in
// database mode the statement runs on the tenant's pool, which reaches
// nothing else, and fn runs once more if that connection was found dead,
// so it must do nothing but read).
// Its queries run one statement: a second one gets an error, never
// another tenant's rows. Writes, reads that must agree with each other,
// audit entries and jobs go through InTenant.
func (ts *Tenants) ReadTenant(ctx context.Context, t domain.Tenant, fn func(context.Context, *tenantdb.Queries) error) error {
	if err := checkTenant(t); err != nil {
		return err
	}
	return ts.storage.read(ctx, t, func(q tenantdb.DBTX) error {
		return fn(ctx, tenantdb.New(q))
	})
}

type commitCheckKey struct{}

// WithCommitCheck returns a context whose InTenant transactions run check
// after their work succeeded, before they commit: an error from check rolls
// the work back and is InTenant's. A rule that concurrent transactions
// could break together (a plan's limit on rows) is checked here, after the
// rows are written, under a lock check takes.
func WithCommitCheck(ctx context.Context, check func(ctx context.Context, tx pgx.Tx) error) context.Context {
	return context.WithValue(ctx, commitCheckKey{}, check)
}

// InTenantTx is InTenant for code that needs the transaction itself rather
// than the unit: background jobs, whose handlers take a pgx.Tx (see
// jobs.TenantsScope) and reach the unit with UnitFrom(ctx), and the tests
// that attack the confinement with hand-written SQL. The confinement and
// the unit are the same. Write unqualified SQL: a schema-qualified name
// would step past search_path in schema mode.
func (ts *Tenants) InTenantTx(ctx context.Context, t domain.Tenant, fn func(context.Context, pgx.Tx) error) error {
	return ts.InTenant(ctx, t, func(ctx context.Context, u *Unit) error {
		return fn(ctx, u.tx)
	})
}

// UseSeams sets what the units of InTenant enqueue, audit and publish
// with. Call it once, before the first InTenant: the services set the job
// client when they open it, features add their recorder and publisher.
func (ts *Tenants) UseSeams(s Seams) {
	ts.seams = s
}

// inTenantTx runs fn in a transaction confined to t.
func (ts *Tenants) inTenantTx(ctx context.Context, t domain.Tenant, fn func(pgx.Tx) error) error {
	if err := checkTenant(t); err != nil {
		return err
	}
	return ts.storage.inTenant(ctx, t, fn)
}

// checkTenant refuses tenant-scoped work without a tenant. The slug was
// validated when the tenant was created; checking again costs nothing and
// keeps a forged Tenant away from the names the storage makes of it.
func checkTenant(t domain.Tenant) error {
	if t.ID == "" {
		return domain.Errorf(domain.EINTERNAL, "tenant-scoped work without a tenant")
	}
	if err := domain.ValidateSlugSyntax(t.Slug); err != nil {
		return domain.Wrap(err, domain.EINTERNAL, "tenant with a malformed slug")
	}
	return nil
}

// Resolve returns the active tenant called slug, from the cache when it
// was resolved within the TTL and has not changed since. An unknown,
// malformed, not yet active or suspended slug is ENOTFOUND, with the same
// message whichever it is: a suspended tenant is served to no one, and
// answers exactly as a slug never taken does, so suspension tells nobody
// the tenant exists. A malformed slug never reaches the database.
func (ts *Tenants) Resolve(ctx context.Context, slug string) (domain.Tenant, error) {
	if domain.ValidateSlugSyntax(slug) != nil {
		return domain.Tenant{}, domain.Errorf(domain.ENOTFOUND, "no tenant %q", truncateSlug(slug))
	}
	if t, ok := ts.lookup(ctx, slug); ok {
		return t, nil
	}
	t, err := ts.read(ctx, slug)
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Tenant{}, domain.Errorf(domain.ENOTFOUND, "no tenant %q", slug)
	}
	if err != nil {
		return domain.Tenant{}, fmt.Errorf("resolve tenant: %w", err)
	}
	return t, nil
}

// read reads the active tenant called slug from the database and caches
// it, unless a change to it was heard while it read; pgx.ErrNoRows when
// no such tenant is served.
func (ts *Tenants) read(ctx context.Context, slug string) (domain.Tenant, error) {
	gen := ts.cache.begin()
	row, err := ts.queries.GetActiveTenantBySlug(ctx, slug)
	if err != nil {
		return domain.Tenant{}, err
	}
	t := tenantFromRow(row)
	// Listening starts with the first tenant cached; a change made before
	// LISTEN is in place is covered by the cache being cleared then.
	ts.watch.start(ctx)
	ts.cache.put(t, gen)
	return t, nil
}

// cached returns the active tenant called slug if Resolve would answer it
// from the cache, without waiting for the database (a due entry is read
// again in the background, as Resolve would).
func (ts *Tenants) cached(ctx context.Context, slug string) (domain.Tenant, bool) {
	if slug == "" || domain.ValidateSlugSyntax(slug) != nil {
		return domain.Tenant{}, false
	}
	return ts.lookup(ctx, slug)
}

// refreshTimeout bounds a background refresh of a cached tenant.
const refreshTimeout = 5 * time.Second

// lookup answers slug from the cache and, when its entry is due, reads it
// again in the background (see tenantCache): what it read replaces the
// entry, unless a change was heard meanwhile; a tenant no longer served is
// forgotten; a failed read changes nothing, and the entry expires as it
// would have.
func (ts *Tenants) lookup(ctx context.Context, slug string) (domain.Tenant, bool) {
	t, due, ok := ts.cache.lookup(slug)
	if due {
		ts.refreshes.Go(func() {
			defer ts.cache.refreshed(slug)
			readCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refreshTimeout)
			defer cancel()
			if _, err := ts.read(readCtx, slug); errors.Is(err, pgx.ErrNoRows) {
				ts.cache.invalidate(slug)
			}
		})
	}
	return t, ok
}

// forget drops slug from the resolve cache: the database says it changed
// before its notification came.
func (ts *Tenants) forget(slug string) {
	ts.cache.invalidate(slug)
}

// Suspend stops serving the tenant called slug: it resolves nowhere (as an
// unknown slug), in this process at once and in every other as soon as the
// change commits. Its data, storage and slug are kept; Resume brings it
// back. Suspending a suspended tenant changes nothing. A slug with no
// active or suspended tenant is ENOTFOUND.
func (ts *Tenants) Suspend(ctx context.Context, slug string) (domain.Tenant, error) {
	return ts.setSuspended(ctx, slug, true)
}

// Resume serves a suspended tenant again, everywhere, as Suspend stops it.
// Resuming an active tenant changes nothing.
func (ts *Tenants) Resume(ctx context.Context, slug string) (domain.Tenant, error) {
	return ts.setSuspended(ctx, slug, false)
}

func (ts *Tenants) setSuspended(ctx context.Context, slug string, suspended bool) (domain.Tenant, error) {
	if domain.ValidateSlugSyntax(slug) != nil {
		return domain.Tenant{}, domain.Errorf(domain.ENOTFOUND, "no tenant %q", truncateSlug(slug))
	}
	action := "tenant.resume"
	if suspended {
		action = "tenant.suspend"
	}
	var row db.Tenant
	err := ts.inControlTx(ctx, func(tx pgx.Tx, q *db.Queries) (*AccessChange, error) {
		var err error
		if row, err = q.SetTenantSuspended(ctx, db.SetTenantSuspendedParams{Slug: slug, Suspended: suspended}); err != nil {
			return nil, err
		}
		t := tenantFromRow(row)
		var suspension *AccessChange
		if suspended {
			suspension = &AccessChange{Tenant: t.ID}
		}
		return suspension, RecordControl(ctx, tx, t, action, "tenant:"+t.ID, nil, t)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Tenant{}, domain.Errorf(domain.ENOTFOUND, "no tenant %q", slug)
	}
	if err != nil {
		return domain.Tenant{}, fmt.Errorf("change tenant %q: %w", slug, err)
	}
	// The trigger's notification reaches this process too, a moment later;
	// this one need not wait for it.
	ts.cache.invalidate(slug)
	return tenantFromRow(row), nil
}

// Get returns the tenant called slug, active or suspended (Suspended says
// which), for operators and the worker. Requests resolve tenants with
// Resolve, which never returns a suspended one. A slug with no such tenant
// is ENOTFOUND.
func (ts *Tenants) Get(ctx context.Context, slug string) (domain.Tenant, error) {
	if domain.ValidateSlugSyntax(slug) != nil {
		return domain.Tenant{}, domain.Errorf(domain.ENOTFOUND, "no tenant %q", truncateSlug(slug))
	}
	row, err := ts.queries.GetTenantBySlug(ctx, slug)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && row.State != "active" && row.State != "suspended") {
		return domain.Tenant{}, domain.Errorf(domain.ENOTFOUND, "no tenant %q", slug)
	}
	if err != nil {
		return domain.Tenant{}, fmt.Errorf("get tenant %q: %w", slug, err)
	}
	return tenantFromRow(row), nil
}

// List returns up to limit tenants, active and suspended (Suspended says
// which), ordered by slug, starting after afterSlug ("" for the first page).
// It is the operators' view; members list theirs through identity.
func (ts *Tenants) List(ctx context.Context, afterSlug string, limit int) ([]domain.Tenant, error) {
	rows, err := ts.queries.ListTenants(ctx, db.ListTenantsParams{
		AfterSlug: afterSlug,
		MaxItems:  clampLimit(limit),
	})
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	out := make([]domain.Tenant, len(rows))
	for i, r := range rows {
		out[i] = tenantFromRow(r)
	}
	return out, nil
}

// Create registers a tenant, provisions its storage and migrates it. It
// either returns an active tenant or leaves nothing behind: no tenant row,
// and no database it made. Invalid input is EINVALID; a taken slug
// ECONFLICT.
//
// While it works it holds an advisory lock on the slug (released by
// Postgres if this process dies) and the tenant row stays in state
// provisioning, which never resolves. A row still provisioning when the lock
// is free is therefore the remains of an attempt that died half-way; Create
// clears it up and starts again.
func (ts *Tenants) Create(ctx context.Context, slug, name string) (domain.Tenant, error) {
	return ts.CreateOwned(ctx, slug, name, "")
}

// CreateOwned is Create for a user, who becomes the tenant's owner in the
// transaction that activates it: an active tenant created this way is
// never without its owner. owner "" creates a tenant without members (the
// tenant create command).
func (ts *Tenants) CreateOwned(ctx context.Context, slug, name, owner string) (domain.Tenant, error) {
	if err := domain.ValidateSlug(slug); err != nil {
		return domain.Tenant{}, err
	}
	if err := domain.ValidateTenantName(name); err != nil {
		return domain.Tenant{}, err
	}
	// One connection does all of the work (goose migrations aside, which
	// connect on their own), so concurrent creations never wait for each
	// other's pooled connections. It keeps its session (the locks below
	// are session locks), so it comes from DATABASE_SESSION_URL.
	conn, acquireErr := ts.session.Acquire(ctx)
	if acquireErr != nil {
		return domain.Tenant{}, fmt.Errorf("create tenant: %w", acquireErr)
	}
	defer conn.Release()
	unlock, lockErr := lockSlug(ctx, conn, slug)
	if lockErr != nil {
		return domain.Tenant{}, lockErr
	}
	defer unlock()
	if owner != "" && ts.maxOwned > 0 {
		unlockOwner, err := ts.checkOwnedTenants(ctx, conn, owner)
		if err != nil {
			return domain.Tenant{}, err
		}
		defer unlockOwner()
	}

	if err := ts.clearInterruptedAttempt(ctx, conn, slug); err != nil {
		return domain.Tenant{}, err
	}
	q := db.New(conn)
	row, err := q.InsertTenant(ctx, db.InsertTenantParams{Slug: slug, Name: name})
	if isUniqueViolation(err) {
		return domain.Tenant{}, domain.Errorf(domain.ECONFLICT, "slug %q is taken", slug)
	}
	if err != nil {
		return domain.Tenant{}, fmt.Errorf("register tenant: %w", err)
	}
	t := tenantFromRow(row)
	// provision removes whatever storage it made when it fails.
	if err := ts.storage.provision(ctx, conn, t); err != nil {
		return domain.Tenant{}, ts.undo(ctx, conn, t, false, err)
	}
	if err := activate(ctx, conn, t, owner); err != nil {
		return domain.Tenant{}, ts.undo(ctx, conn, t, true, fmt.Errorf("activate tenant: %w", err))
	}
	return t, nil
}

// activate makes a provisioned tenant active and, when owner is set, that
// user its owner, in one transaction.
func activate(ctx context.Context, conn *pgxpool.Conn, t domain.Tenant, owner string) error {
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		q := db.New(tx)
		if err := q.ActivateTenant(ctx, pgUUID(t.ID)); err != nil {
			return err
		}
		if err := RecordControl(ctx, tx, t, "tenant.create", "tenant:"+t.ID, nil, t); err != nil {
			return err
		}
		if owner == "" {
			return nil
		}
		_, err := q.InsertMembership(ctx, db.InsertMembershipParams{TenantID: pgUUID(t.ID), UserID: pgUUID(owner), Role: domain.RoleOwner})
		return err
	})
}

// lockSlug takes the session advisory lock that serialises work on a slug's
// tenant, on conn. unlock releases it; if that fails the connection is
// closed instead (which releases it too), so the pool never hands out a
// connection still holding the lock.
func lockSlug(ctx context.Context, conn *pgxpool.Conn, slug string) (unlock func(), err error) {
	return tryLock(ctx, conn, lockKey("tenant-create:"+slug),
		domain.Errorf(domain.ECONFLICT, "tenant %q is being created or changed right now; try again", slug))
}

// checkOwnedTenants refuses owner one more tenant when they own
// MaxOwnedTenants. It holds a lock on the owner's creations until unlock,
// so two creations at once cannot both pass the count.
func (ts *Tenants) checkOwnedTenants(ctx context.Context, conn *pgxpool.Conn, owner string) (unlock func(), err error) {
	unlock, err = tryLock(ctx, conn, lockKey("tenant-owner:"+owner),
		domain.Errorf(domain.ECONFLICT, "you are creating another tenant right now; try again when it is done"))
	if err != nil {
		return nil, err
	}
	owned, err := db.New(conn).CountOwnedTenants(ctx, pgUUID(owner))
	if err != nil {
		unlock()
		return nil, fmt.Errorf("count owned tenants: %w", err)
	}
	if owned >= ts.maxOwned {
		unlock()
		e := domain.Errorf(domain.ECONFLICT,
			"you own %d tenants, as many as a user may; delete one, or make another member its owner and leave it.", owned)
		e.Type = ProblemTenantLimit
		return nil, e
	}
	return unlock, nil
}

// tryLock takes the session advisory lock key on conn, or returns busy if
// another session holds it. unlock releases it; if that fails, the
// connection is closed, which releases it too.
func tryLock(ctx context.Context, conn *pgxpool.Conn, key int64, busy error) (unlock func(), err error) {
	var locked bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&locked); err != nil {
		return nil, fmt.Errorf("take lock: %w", err)
	}
	if !locked {
		return nil, busy
	}
	return func() {
		unlockCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, err := conn.Exec(unlockCtx, `SELECT pg_advisory_unlock($1)`, key); err != nil {
			_ = conn.Conn().Close(unlockCtx)
		}
	}, nil
}

// undo removes the tenant row an attempt to create t inserted (and, when
// storage is true, the storage it provisioned) and returns cause. It runs
// even when ctx is cancelled (a client hanging up must not leave a half
// tenant), bounded by its own timeout.
func (ts *Tenants) undo(ctx context.Context, conn db.DBTX, t domain.Tenant, storage bool, cause error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	var errs []error
	if storage {
		if err := ts.storage.deprovision(ctx, conn, t); err != nil {
			errs = append(errs, fmt.Errorf("remove storage: %w", err))
		}
	}
	if err := db.New(conn).DeleteTenant(ctx, pgUUID(t.ID)); err != nil {
		errs = append(errs, fmt.Errorf("remove tenant row: %w", err))
	}
	if len(errs) > 0 {
		return fmt.Errorf("create tenant %q: %w (and undoing it failed: %w)", t.Slug, cause, errors.Join(errs...))
	}
	return cause
}

// clearInterruptedAttempt removes the remains of an earlier Create of slug
// that died while provisioning, and finishes a Delete of it that died
// half-way. The caller holds the slug's lock, so no live attempt can be
// working on them.
func (ts *Tenants) clearInterruptedAttempt(ctx context.Context, conn *pgxpool.Conn, slug string) error {
	q := db.New(conn)
	row, err := q.GetTenantBySlug(ctx, slug)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up tenant: %w", err)
	}
	switch row.State {
	case "deleting":
		return ts.finishDeletion(ctx, conn, tenantFromRow(row))
	case "provisioning":
	default:
		return domain.Errorf(domain.ECONFLICT, "slug %q is taken", slug)
	}
	if err := ts.storage.deprovision(ctx, conn, tenantFromRow(row)); err != nil {
		return fmt.Errorf("clear interrupted creation of %q: %w", slug, err)
	}
	if err := q.DeleteTenant(ctx, row.ID); err != nil {
		return fmt.Errorf("clear interrupted creation of %q: %w", slug, err)
	}
	return nil
}

// lockKey maps a name to an advisory lock key. Two names sharing a key
// only serialise what they lock.
func lockKey(name string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(name))
	return int64(h.Sum64()) //nolint:gosec // G115: any 64 bits make a lock key; wrapping is fine
}

func tenantFromRow(r db.Tenant) domain.Tenant {
	return domain.Tenant{
		ID:        r.ID.String(),
		Slug:      r.Slug,
		Name:      r.Name,
		CreatedAt: r.CreatedAt.Time,
		Suspended: r.State == "suspended",
	}
}

// pgUUID converts a UUID string that came from the database back.
func pgUUID(id string) pgtype.UUID {
	var u pgtype.UUID
	if err := u.Scan(id); err != nil {
		return pgtype.UUID{}
	}
	return u
}

// clampLimit keeps a page size between 1 and 1000.
func clampLimit(limit int) int32 {
	return int32(min(max(limit, 1), 1000))
}

func truncateSlug(s string) string {
	if len(s) > domain.SlugMaxLength {
		return s[:domain.SlugMaxLength] + "…"
	}
	return s
}

func isUniqueViolation(err error) bool {
	pgErr, ok := errors.AsType[*pgconn.PgError](err)
	return ok && pgErr.Code == "23505"
}

// migrationVersions lists the versions of the goose SQL files in fsys
// (NNNNN_name.sql), ascending.
func migrationVersions(fsys fs.FS) ([]int64, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("tenant migrations: %w", err)
	}
	versions := make([]int64, 0, len(names))
	for _, name := range names {
		prefix, _, ok := strings.Cut(path.Base(name), "_")
		v, err := strconv.ParseInt(prefix, 10, 64)
		if !ok || err != nil || v < 1 {
			return nil, fmt.Errorf("tenant migration %s: name must start with a version number and an underscore", name)
		}
		versions = append(versions, v)
	}
	slices.Sort(versions)
	return versions, nil
}

package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"example.com/acme/internal/domain"
	"example.com/acme/internal/postgres/db"
)

// Each tenant's schema has its own goose version table, which
// says exactly where that tenant stands, so a run that dies half-way is
// resumed by running again: finished tenants are skipped after one cheap
// version check, and a tenant interrupted mid-migration had that migration's
// transaction rolled back. After each tenant the runner records the outcome
// in the control plane's tenant_migrations table, from which --limit picks
// the tenants still behind.

// progressInterval is how often a run reports progress.
const progressInterval = time.Second

// MigrateTenants applies pending tenant migrations to the tenants opts
// selects, opts.Concurrency at a time. A tenant that fails does not stop
// the others; its error is in the report. The returned error is for the run
// itself (tenants could not be listed, or ctx ended).
func (ts *Tenants) MigrateTenants(ctx context.Context, opts MigrateOptions) (*MigrationReport, error) {
	if err := ts.storage.prepareControlPlane(ctx); err != nil {
		return nil, err
	}
	tenants, err := ts.selectTenants(ctx, opts, true)
	if err != nil {
		return nil, err
	}
	results := ts.forEachTenant(ctx, tenants, opts, "tenant migrate", func(ctx context.Context, t domain.Tenant) TenantMigration {
		return ts.migrateTenant(ctx, ts.pool, t)
	})
	return &MigrationReport{Latest: ts.LatestVersion(), Tenants: results}, ctx.Err()
}

// CheckTenants reports where the tenants opts selects stand without
// changing anything.
func (ts *Tenants) CheckTenants(ctx context.Context, opts MigrateOptions) (*MigrationReport, error) {
	tenants, err := ts.selectTenants(ctx, opts, false)
	if err != nil {
		return nil, err
	}
	results := ts.forEachTenant(ctx, tenants, opts, "tenant check", ts.checkTenant)
	return &MigrationReport{Latest: ts.LatestVersion(), Tenants: results}, ctx.Err()
}

// selectTenants lists the tenants a run visits, ordered by slug: the active
// and the suspended ones, whose storage is kept and must be current when
// they are resumed.
func (ts *Tenants) selectTenants(ctx context.Context, opts MigrateOptions, useLimit bool) ([]domain.Tenant, error) {
	if opts.Slug != "" {
		row, err := ts.queries.GetTenantBySlug(ctx, opts.Slug)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && row.State == "provisioning") {
			return nil, domain.Errorf(domain.ENOTFOUND, "no tenant %q", opts.Slug)
		}
		if err != nil {
			return nil, fmt.Errorf("look up tenant: %w", err)
		}
		return []domain.Tenant{tenantFromRow(row)}, nil
	}
	if useLimit && opts.Limit > 0 {
		rows, err := ts.queries.ListTenantsBehind(ctx, db.ListTenantsBehindParams{
			AfterSlug: "",
			Version:   ts.LatestVersion(),
			MaxItems:  int32(min(opts.Limit, 1<<30)),
		})
		if err != nil {
			return nil, fmt.Errorf("list tenants behind: %w", err)
		}
		out := make([]domain.Tenant, len(rows))
		for i, r := range rows {
			out[i] = tenantFromRow(r.Tenant)
		}
		return out, nil
	}
	var all []domain.Tenant
	after := ""
	for {
		page, err := ts.queries.ListMigratableTenants(ctx, db.ListMigratableTenantsParams{AfterSlug: after, MaxItems: 1000})
		if err != nil {
			return nil, fmt.Errorf("list tenants: %w", err)
		}
		for _, r := range page {
			all = append(all, tenantFromRow(r))
		}
		if len(page) < 1000 {
			return all, nil
		}
		after = page[len(page)-1].Slug
	}
}

// forEachTenant runs work on every tenant, concurrency at a time, and
// returns the results in the tenants' order. Once ctx ends no new tenant is
// started; the ones not started are reported as failed with ctx's error.
func (ts *Tenants) forEachTenant(ctx context.Context, tenants []domain.Tenant, opts MigrateOptions, what string,
	work func(context.Context, domain.Tenant) TenantMigration,
) []TenantMigration {
	concurrency := opts.Concurrency
	if concurrency <= 0 {
		concurrency = DefaultMigrateConcurrency
	}
	results := make([]TenantMigration, len(tenants))
	p := startProgress(opts.Progress, what, len(tenants))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(concurrency, len(tenants)) {
		wg.Go(func() {
			for i := range next {
				if err := ctx.Err(); err != nil {
					results[i] = TenantMigration{Tenant: tenants[i], Target: ts.storage.target(tenants[i]), Behind: true, Err: err}
				} else {
					results[i] = work(ctx, tenants[i])
				}
				p.done(results[i].Err != nil)
			}
		})
	}
	for i := range tenants {
		next <- i
	}
	close(next)
	wg.Wait()
	p.stop()
	return results
}

// migrateTenant migrates one tenant and records the outcome, using conn for
// the control plane (goose connects to the tenant's storage on its own).
func (ts *Tenants) migrateTenant(ctx context.Context, conn db.DBTX, t domain.Tenant) TenantMigration {
	m := TenantMigration{Tenant: t, Target: ts.storage.target(t)}
	m.From, m.To, m.Applied, m.Err = ts.storage.migrate(ctx, conn, t)
	m.Behind = m.Err != nil || m.To != ts.LatestVersion()
	ts.record(ctx, conn, m)
	return m
}

// checkTenant reads where one tenant stands.
func (ts *Tenants) checkTenant(ctx context.Context, t domain.Tenant) TenantMigration {
	m := TenantMigration{Tenant: t, Target: ts.storage.target(t)}
	v, err := ts.storage.version(ctx, ts.pool, t)
	m.From, m.To, m.Err = v.current, v.current, err
	m.Behind = err != nil || !v.upToDate(ts.versions)
	return m
}

// record writes a tenant's outcome to tenant_migrations. It runs even when
// ctx has ended (the tenant's state must not be lost), with its own
// timeout; failing to record is not fatal, since the tenant's own version
// table is the truth and the next run records again.
func (ts *Tenants) record(ctx context.Context, conn db.DBTX, m TenantMigration) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	state, msg := "ok", ""
	if m.Err != nil {
		state, msg = "failed", m.Err.Error()
	}
	_ = db.New(conn).RecordTenantMigration(ctx, db.RecordTenantMigrationParams{
		TenantID: pgUUID(m.Tenant.ID),
		Version:  m.To,
		State:    state,
		Error:    msg,
	})
}

// RecordedMigration returns what the last run recorded for t.
func (ts *Tenants) RecordedMigration(ctx context.Context, t domain.Tenant) (db.TenantMigration, error) {
	row, err := ts.queries.GetTenantMigration(ctx, pgUUID(t.ID))
	if errors.Is(err, pgx.ErrNoRows) {
		return db.TenantMigration{}, domain.Errorf(domain.ENOTFOUND, "no migration recorded for tenant %q", t.Slug)
	}
	return row, err
}

// progress prints "what: n/total tenants, f failed (elapsed)" about every
// progressInterval and once at the end.
type progress struct {
	w      io.Writer
	what   string
	total  int
	start  time.Time
	n, bad atomic.Int64
	quit   chan struct{}
	wg     sync.WaitGroup
}

func startProgress(w io.Writer, what string, total int) *progress {
	p := &progress{w: w, what: what, total: total, start: time.Now(), quit: make(chan struct{})}
	if w == nil {
		return p
	}
	p.wg.Go(func() {
		tick := time.NewTicker(progressInterval)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				p.print()
			case <-p.quit:
				return
			}
		}
	})
	return p
}

func (p *progress) done(failed bool) {
	p.n.Add(1)
	if failed {
		p.bad.Add(1)
	}
}

func (p *progress) stop() {
	close(p.quit)
	p.wg.Wait()
	if p.w != nil {
		p.print()
	}
}

func (p *progress) print() {
	fmt.Fprintf(p.w, "%s: %d/%d tenants, %d failed (%s)\n",
		p.what, p.n.Load(), p.total, p.bad.Load(), time.Since(p.start).Round(10*time.Millisecond))
}

package postgres

import (
	"io"

	"github.com/acme/shop-api/internal/domain"
)

// DefaultMigrateConcurrency is how many tenants a migration run works on at
// once when MigrateOptions.Concurrency is not set.
const DefaultMigrateConcurrency = 4

// MigrateOptions selects the tenants a migration run (or check) visits.
type MigrateOptions struct {
	// Slug limits the run to one tenant: a canary.
	Slug string
	// Limit, when positive, limits a run to that many tenants still behind
	// (by slug), so a large fleet can be migrated in chunks.
	Limit int
	// Concurrency is how many tenants are worked on at once;
	// DefaultMigrateConcurrency when zero.
	Concurrency int
	// Progress receives a progress line about every second and a summary
	// line at the end; nil for none.
	Progress io.Writer
}

// TenantMigration is what a run did to (or found in) one tenant's storage.
type TenantMigration struct {
	// Tenant is the tenant; zero when the storage is shared by every tenant.
	Tenant domain.Tenant
	// Target names the storage: a schema, a database or the shared tables.
	Target string
	// From and To are the versions before and after the run.
	From, To int64
	// Applied counts the migrations the run applied.
	Applied int
	// Behind is true when the storage still lacks migrations this binary has.
	Behind bool
	// Err is why the run failed for this tenant, or nil.
	Err error
}

// MigrationReport is the outcome of a migration run or check.
type MigrationReport struct {
	// Latest is the newest tenant migration this binary has.
	Latest int64
	// Tenants has one entry per storage visited, ordered by slug.
	Tenants []TenantMigration
}

// Failed returns the entries that failed.
func (r *MigrationReport) Failed() []TenantMigration {
	return r.filter(func(m *TenantMigration) bool { return m.Err != nil })
}

// Behind returns the entries that still lack migrations.
func (r *MigrationReport) Behind() []TenantMigration {
	return r.filter(func(m *TenantMigration) bool { return m.Behind })
}

// Applied counts the migrations applied across all tenants.
func (r *MigrationReport) Applied() int {
	n := 0
	for i := range r.Tenants {
		n += r.Tenants[i].Applied
	}
	return n
}

func (r *MigrationReport) filter(keep func(*TenantMigration) bool) []TenantMigration {
	var out []TenantMigration
	for i := range r.Tenants {
		if keep(&r.Tenants[i]) {
			out = append(out, r.Tenants[i])
		}
	}
	return out
}

// schemaVersion is where one tenant's migrations stand.
type schemaVersion struct {
	current int64 // highest applied version, 0 for none
	applied int64 // how many versions are applied
}

// upToDate reports whether every one of versions is applied and nothing
// newer is.
func (v schemaVersion) upToDate(versions []int64) bool {
	latest := int64(0)
	if len(versions) > 0 {
		latest = versions[len(versions)-1]
	}
	return v.current == latest && v.applied == int64(len(versions))
}

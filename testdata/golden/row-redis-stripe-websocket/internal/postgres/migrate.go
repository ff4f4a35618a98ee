package postgres

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"hash/fnv"
	"io/fs"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// migrations holds the control-plane schema: numbered goose SQL files, each
// with an Up and (where sensible) a Down section.
//
//go:embed migrations/*.sql
var migrations embed.FS

// Migrator applies the control-plane migrations. A Postgres advisory lock
// serialises concurrent runs, so several replicas may migrate at start-up.
type Migrator struct {
	db       *sql.DB
	provider *goose.Provider
}

// NewMigrator returns a Migrator using connections from pool. Close it when done.
func NewMigrator(pool *pgxpool.Pool) (*Migrator, error) {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	provider, err := goose.NewProvider(goose.DialectPostgres, db, fsys,
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
		// A kit upgrade may bring a control-plane migration numbered below
		// ones a database already has (00014 after 00020): it applies.
		goose.WithAllowOutofOrder(true),
	)
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return &Migrator{db: db, provider: provider}, nil
}

// Up applies every pending migration and returns what it applied.
func (m *Migrator) Up(ctx context.Context) ([]*goose.MigrationResult, error) {
	results, err := m.provider.Up(ctx)
	if err != nil {
		return results, fmt.Errorf("migrate up: %w", err)
	}
	return results, nil
}

// Status lists every known migration and whether it is applied.
func (m *Migrator) Status(ctx context.Context) ([]*goose.MigrationStatus, error) {
	status, err := m.provider.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate status: %w", err)
	}
	return status, nil
}

// Version returns the version of the last applied migration (0 for none).
func (m *Migrator) Version(ctx context.Context) (int64, error) {
	v, err := m.provider.GetDBVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("migration version: %w", err)
	}
	return v, nil
}

// Close releases the Migrator's connections; the pool stays open.
func (m *Migrator) Close() error {
	return m.db.Close()
}

// migrationLockID is the advisory lock goose holds while migrating the
// tenant storage called name.
func migrationLockID(name string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("tenant-migrate:" + name))
	return int64(h.Sum64()) //nolint:gosec // G115: any 64 bits make a lock key
}

// runGoose applies the migrations in fsys over sqlDB (and closes it),
// holding name's advisory lock and recording versions in table. goose runs
// everything on one connection of sqlDB.
func runGoose(ctx context.Context, sqlDB *sql.DB, fsys fs.FS, name, table string) ([]*goose.MigrationResult, error) {
	defer func() { _ = sqlDB.Close() }()
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(migrationLockID(name)))
	if err != nil {
		return nil, err
	}
	provider, err := goose.NewProvider(goose.DialectPostgres, sqlDB, fsys,
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
		goose.WithTableName(table),
		// Resources' migrations (`saaskit add resource`) are numbered from
		// 10001 and kit migrations a later upgrade brings stay small, so a
		// new kit migration may sort before applied resource ones.
		goose.WithAllowOutofOrder(true),
	)
	if err != nil {
		return nil, err
	}
	return provider.Up(ctx)
}

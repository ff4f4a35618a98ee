package testsvc

import (
	"context"
	"crypto/rand"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// NewTenancyEnv returns the database variables of a fresh environment for
// tests that create tenants, cleaned up when the test ends. In database mode
// that is a new control database and a tenant database prefix of its own,
// so parallel tests never share a tenant database name; every database with
// the prefix is dropped at the end. The pool cache is kept small, as the
// test server has few connections to spare.
func NewTenancyEnv(tb testing.TB) map[string]string {
	tb.Helper()
	control := NewDatabase(tb)
	prefix := "t" + strings.ToLower(rand.Text()[:10]) + "_"
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		DropDatabases(ctx, tb, prefix)
	})
	return map[string]string{
		"DATABASE_URL":           control,
		"TENANT_DATABASE_PREFIX": prefix,
		"TENANT_POOL_CACHE":      "8",
		"TENANT_POOL_MAX_CONNS":  "2",
	}
}

// DropDatabases drops every database whose name starts with prefix, several
// at a time (each drop waits for a checkpoint, which concurrent drops share).
func DropDatabases(ctx context.Context, tb testing.TB, prefix string) {
	tb.Helper()
	pool, err := pgxpool.New(ctx, DatabaseURL(tb))
	if err != nil {
		tb.Fatalf("connect to TEST_DATABASE_URL: %v", err)
	}
	defer pool.Close()
	rows, err := pool.Query(ctx, `SELECT datname FROM pg_database WHERE starts_with(datname, $1)`, prefix)
	if err != nil {
		tb.Fatalf("list databases: %v", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		tb.Fatalf("list databases: %v", err)
	}
	next := make(chan string)
	var wg sync.WaitGroup
	for range min(8, len(names)) {
		wg.Go(func() {
			for name := range next {
				if _, err := pool.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
					tb.Errorf("drop database %s: %v", name, err)
				}
			}
		})
	}
	for _, name := range names {
		next <- name
	}
	close(next)
	wg.Wait()
}

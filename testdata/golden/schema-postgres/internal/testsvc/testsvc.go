// Package testsvc finds the live services tests run against. Each service is
// named by an environment variable (TEST_DATABASE_URL, TEST_PGBOUNCER_ADDR;
// the broker's in broker_*.go).
// When one is unset the test is skipped with a message saying so, unless
// SAASKIT_REQUIRE_SERVICES=1 (as in CI), where a missing service fails it.
// It also holds the few helpers that tests of several packages share.
package testsvc

import (
	"bytes"
	"context"
	"crypto/rand"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"example.com/acme/internal/config"
)

// RequireServicesEnv is the variable that turns a missing service into a failure.
const RequireServicesEnv = "SAASKIT_REQUIRE_SERVICES"

func lookup(tb testing.TB, name, service string) string {
	tb.Helper()
	if v := os.Getenv(name); v != "" {
		return v
	}
	if os.Getenv(RequireServicesEnv) == "1" {
		tb.Fatalf("%s not set but %s=1: live %s is required", name, RequireServicesEnv, service)
	}
	tb.Skipf("%s not set: skipping live %s test", name, service)
	return ""
}

// DatabaseURL returns TEST_DATABASE_URL: a Postgres URL whose user may
// create databases, schemas and roles.
func DatabaseURL(tb testing.TB) string {
	tb.Helper()
	return lookup(tb, "TEST_DATABASE_URL", "Postgres")
}

// NewDatabase creates an empty database with a unique name on the
// TEST_DATABASE_URL server, drops it when the test ends, and returns its URL.
func NewDatabase(tb testing.TB) string {
	tb.Helper()
	base := DatabaseURL(tb)
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		tb.Fatalf("TEST_DATABASE_URL must be a postgres:// URL")
	}
	name := "test_" + randomLabel()

	ctx, cancel := context.WithTimeout(tb.Context(), 30*time.Second)
	defer cancel()
	exec(ctx, tb, base, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	tb.Cleanup(func() {
		// tb.Context is already cancelled when cleanups run.
		// Generous: a database holding thousands of tenant schemas (the
		// benchmarks make one) takes a while to drop on a busy machine.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		exec(ctx, tb, base, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	})

	u.Path = "/" + name
	return u.String()
}

// NewTenancyConfig is NewTenancyEnv read with config.LoadDatabase.
func NewTenancyConfig(tb testing.TB) config.Database {
	tb.Helper()
	d, err := config.LoadDatabase(Getenv(NewTenancyEnv(tb)))
	if err != nil {
		tb.Fatalf("tenancy environment: %v", err)
	}
	return d
}

// Getenv returns a getenv function reading env.
func Getenv(env map[string]string) func(string) string {
	return func(name string) string { return env[name] }
}

// randomLabel returns a random lowercase name part.
func randomLabel() string {
	return strings.ToLower(rand.Text()[:16])
}

func exec(ctx context.Context, tb testing.TB, databaseURL, sql string) {
	tb.Helper()
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		tb.Fatalf("connect to TEST_DATABASE_URL: %v", err)
	}
	defer func() { _ = conn.Close(ctx) }()
	if _, err := conn.Exec(ctx, sql); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
}

// ClosedAddr returns a loopback host:port that nothing listens on, for
// tests of what happens when a service is unreachable.
func ClosedAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := (&net.ListenConfig{}).Listen(tb.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		tb.Fatalf("close listener: %v", err)
	}
	return addr
}

// LogBuffer collects what a logger writes; it is safe for concurrent use.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write implements io.Writer.
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// ThroughPooler returns databaseURL pointed at TEST_PGBOUNCER_ADDR, a
// PgBouncer in transaction mode in front of the same server, with the query
// mode a pooler without prepared statements needs
// (default_query_exec_mode=exec).
func ThroughPooler(tb testing.TB, databaseURL string) string {
	tb.Helper()
	addr := lookup(tb, "TEST_PGBOUNCER_ADDR", "PgBouncer (transaction mode)")
	u, err := url.Parse(databaseURL)
	if err != nil {
		tb.Fatalf("parse database URL: %v", err)
	}
	u.Host = addr
	q := u.Query()
	q.Set("default_query_exec_mode", "exec")
	u.RawQuery = q.Encode()
	return u.String()
}

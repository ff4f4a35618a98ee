// Package testenv gives the kit's tests the live services and tools they
// need: a test skips with a clear message when one is absent (a laptop), and
// fails instead when SAASKIT_REQUIRE_SERVICES=1 (CI). It also holds the
// switch for the exhaustive run (SAASKIT_EXHAUSTIVE=1, also set by CI): the
// tests that build whole generated repositories.
package testenv

import (
	"os"
	"testing"

	"github.com/saaskit/saaskit/generator"
)

// Required reports whether absent services must fail tests.
func Required() bool { return os.Getenv("SAASKIT_REQUIRE_SERVICES") == "1" }

// ExhaustiveEnv switches on the tests that build generated repositories:
// every option combination compiled, the smoke repositories built, linted
// and tested against live services, the golden trees and the repositories
// the testscript scenarios leave behind compiled. They add well over
// twenty minutes on a two-core machine (more from cold caches), so the
// default `go test ./...` leaves them to CI.
const ExhaustiveEnv = "SAASKIT_EXHAUSTIVE"

// Exhaustive reports whether the exhaustive run is switched on.
func Exhaustive() bool { return os.Getenv(ExhaustiveEnv) == "1" }

// Slow skips a test that builds generated repositories unless the
// exhaustive run is switched on; -short skips it too.
func Slow(t testing.TB, what string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("-short: %s", what)
	}
	if !Exhaustive() {
		t.Skipf("%s: skipped in the default run; set %s=1 to run it (CI does)", what, ExhaustiveEnv)
	}
}

// Service returns the value of the environment variable that locates a
// service, e.g. TEST_DATABASE_URL.
func Service(t testing.TB, env string) string {
	t.Helper()
	v := os.Getenv(env)
	if v == "" {
		Absent(t, env+" is not set")
	}
	return v
}

// Absent skips the test, or fails it when services are required.
func Absent(t testing.TB, why string) {
	t.Helper()
	if Required() {
		t.Fatalf("%s, and SAASKIT_REQUIRE_SERVICES=1 requires it", why)
	}
	t.Skipf("%s: skipping (set it, or SAASKIT_REQUIRE_SERVICES=1 to make this a failure)", why)
}

// Main runs a package's tests. A test binary that renders apps starts copies
// of itself to run sqlc (see generator.SQLCChild): such a copy runs sqlc
// instead of the tests.
func Main(m *testing.M) {
	if code, ok := generator.SQLCChild(); ok {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

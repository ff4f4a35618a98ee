// Package testenv gives the kit's tests the live services and tools they
// need: a test skips with a clear message when one is absent (a laptop), and
// fails instead when SAASKIT_REQUIRE_SERVICES=1 (CI).
package testenv

import (
	"os"
	"testing"

	"github.com/saaskit/saaskit/generator"
)

// Required reports whether absent services must fail tests.
func Required() bool { return os.Getenv("SAASKIT_REQUIRE_SERVICES") == "1" }

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

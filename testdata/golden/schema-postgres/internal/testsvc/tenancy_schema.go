package testsvc

import "testing"

// NewTenancyEnv returns the database variables of a fresh environment for
// tests that create tenants, cleaned up when the test ends. In schema mode
// that is a new database: its tenants' schemas go with it.
func NewTenancyEnv(tb testing.TB) map[string]string {
	tb.Helper()
	return map[string]string{"DATABASE_URL": NewDatabase(tb)}
}

package testsvc

import (
	"context"
	"crypto/rand"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// NewTenancyEnv returns the database variables of a fresh environment for
// tests that create tenants, cleaned up when the test ends: a new database
// owned by TEST_DATABASE_URL's user (MIGRATE_DATABASE_URL), a new login
// role for the app that owns nothing and is neither superuser nor BYPASSRLS
// (DATABASE_URL), as in production, and the SECRET_KEY that seals tenants'
// transactions.
func NewTenancyEnv(tb testing.TB) map[string]string {
	tb.Helper()
	owner := NewDatabase(tb)
	return map[string]string{
		"DATABASE_URL":         NewAppRole(tb, owner),
		"MIGRATE_DATABASE_URL": owner,
		"SECRET_KEY":           TestSecretKey,
	}
}

// NewAppRole creates a login role with a password and no privileges beyond
// connecting, and returns databaseURL with that role's credentials. The role
// and everything granted to it in the database are dropped when the test ends.
func NewAppRole(tb testing.TB, databaseURL string) string {
	tb.Helper()
	u, err := url.Parse(databaseURL)
	if err != nil {
		tb.Fatalf("parse database URL: %v", err)
	}
	name := "test_app_" + strings.ToLower(rand.Text()[:12])
	password := rand.Text()
	role := pgx.Identifier{name}.Sanitize()

	ctx, cancel := context.WithTimeout(tb.Context(), 30*time.Second)
	defer cancel()
	exec(ctx, tb, DatabaseURL(tb), "CREATE ROLE "+role+" LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE PASSWORD '"+password+"'")
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// DROP OWNED revokes what the role was granted in the test's
		// database, which DROP ROLE would otherwise refuse over.
		exec(ctx, tb, databaseURL, "DROP OWNED BY "+role)
		exec(ctx, tb, DatabaseURL(tb), "DROP ROLE "+role)
	})

	u.User = url.UserPassword(name, password)
	return u.String()
}

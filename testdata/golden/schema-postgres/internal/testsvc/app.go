package testsvc

import (
	"maps"
	"testing"
)

// TestSecretKey is the SECRET_KEY of AppEnv: fixed, so that tests can seal
// and open what the app seals.
const TestSecretKey = "0123456789abcdef0123456789abcdef"

// AppEnv returns a complete environment for the app's commands: a fresh
// database (with its roles or tenant databases: NewTenancyEnv), the live
// broker with a namespace of its own, and HTTP_ADDR on a free loopback port.
func AppEnv(tb testing.TB) map[string]string {
	tb.Helper()
	env := map[string]string{
		"SECRET_KEY":       TestSecretKey,
		"HTTP_ADDR":        "127.0.0.1:0",
		"SHUTDOWN_TIMEOUT": "5s",
		// Tests that sign up to test something else sign in at once; the
		// ones about verification set it to required.
		"EMAIL_VERIFICATION": "optional",
	}
	maps.Copy(env, BrokerEnv(tb))
	maps.Copy(env, NewTenancyEnv(tb))
	return env
}

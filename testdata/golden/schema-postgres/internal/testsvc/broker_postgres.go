package testsvc

import "testing"

// BrokerEnv returns the broker's part of AppEnv: nothing, since River's
// broker is the database NewTenancyEnv already provides.
func BrokerEnv(tb testing.TB) map[string]string {
	tb.Helper()
	return map[string]string{}
}

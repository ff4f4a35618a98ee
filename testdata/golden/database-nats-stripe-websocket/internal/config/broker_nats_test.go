package config_test

import (
	"testing"

	"github.com/stretchr/testify/require"
)

var (
	requiredBrokerVars  = []string{"NATS_URL"}
	malformedBrokerVars = []malformed{
		{"JOBS_NAMESPACE", "Prod.EU", "must be lowercase letters, digits and hyphens"},
		{"NATS_URL", "localhost:4222", "must be a URL starting with nats:// or tls:// or ws:// or wss://"},
		{"NATS_URL", "nats://a:4222,http://b:4222", "must be a URL starting with nats://"},
	}
)

func validBrokerEnv() map[string]string {
	return map[string]string{"NATS_URL": "nats://localhost:4222"}
}

func TestLoadBroker(t *testing.T) {
	t.Parallel()

	cfg, err := load(validEnv())
	require.NoError(t, err)
	require.Equal(t, "nats://localhost:4222", cfg.Broker.URL)
	require.Equal(t, "ledger", cfg.Broker.Namespace)

	env := validEnv()
	env["NATS_URL"] = "nats://n1:4222,tls://n2:4222"
	env["JOBS_NAMESPACE"] = "prod-eu"
	cfg, err = load(env)
	require.NoError(t, err)
	require.Equal(t, "nats://n1:4222,tls://n2:4222", cfg.Broker.URL)
	require.Equal(t, "prod-eu", cfg.Broker.Namespace)
}

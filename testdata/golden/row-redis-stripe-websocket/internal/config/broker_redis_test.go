package config_test

import (
	"testing"

	"github.com/stretchr/testify/require"
)

var (
	requiredBrokerVars  = []string{"REDIS_URL"}
	malformedBrokerVars = []malformed{
		{"JOBS_NAMESPACE", "Prod.EU", "must be lowercase letters, digits and hyphens"},
		{"REDIS_URL", "localhost:6379", "must be a URL starting with redis:// or rediss:// or unix://"},
	}
)

func validBrokerEnv() map[string]string {
	return map[string]string{"REDIS_URL": "redis://localhost:6379/0"}
}

func TestLoadBroker(t *testing.T) {
	t.Parallel()

	cfg, err := load(validEnv())
	require.NoError(t, err)
	require.Equal(t, "redis://localhost:6379/0", cfg.Broker.URL)
	require.Equal(t, "shop-api", cfg.Broker.Namespace)

	env := validEnv()
	env["JOBS_NAMESPACE"] = "prod-eu"
	cfg, err = load(env)
	require.NoError(t, err)
	require.Equal(t, "prod-eu", cfg.Broker.Namespace)
}

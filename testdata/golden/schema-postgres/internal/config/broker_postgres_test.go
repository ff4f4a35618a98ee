package config_test

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// River needs no setting: the broker adds nothing to a valid environment,
// and nothing can be missing or malformed.
var (
	requiredBrokerVars  []string
	malformedBrokerVars []malformed
)

func validBrokerEnv() map[string]string { return map[string]string{} }

func TestLoadBroker(t *testing.T) {
	t.Parallel()

	cfg, err := load(validEnv())
	require.NoError(t, err)
	require.Equal(t, "acme", cfg.Broker.Namespace, "River's clients are named after the app")
}

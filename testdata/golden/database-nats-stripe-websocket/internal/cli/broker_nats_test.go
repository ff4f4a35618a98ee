package cli_test

import (
	"slices"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"ledger.internal/svc/internal/testsvc"
)

// brokerChecks are the broker's readiness checks besides the database's.
var brokerChecks = map[string]string{"nats": "ok"}

// requireQueueMigrated checks what `migrate up` said about the job queue:
// nothing, the broker keeps it outside the database.
func requireQueueMigrated(t *testing.T, stdout string, _ bool) {
	t.Helper()
	require.NotContains(t, stdout, "job queue")
}

// watchBroker records every message published on the jobs namespace's
// subjects, JetStream's included, and returns a function listing them so
// far.
func watchBroker(t *testing.T, namespace string) func() []string {
	t.Helper()
	nc, err := nats.Connect(testsvc.NATSURL(t))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	var mu sync.Mutex
	var messages []string
	_, err = nc.Subscribe(namespace+".>", func(m *nats.Msg) {
		mu.Lock()
		defer mu.Unlock()
		messages = append(messages, m.Subject+" "+string(m.Data))
	})
	require.NoError(t, err)
	require.NoError(t, nc.Flush())
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(messages)
	}
}

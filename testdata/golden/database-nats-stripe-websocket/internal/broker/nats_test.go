package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"ledger.internal/svc/internal/broker"
	"ledger.internal/svc/internal/config"
	"ledger.internal/svc/internal/testsvc"
)

func TestNATSPing(t *testing.T) {
	t.Parallel()

	n, err := openURL(testsvc.NATSURL(t))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, n.Close()) })

	// The first connection is made in the background.
	require.Eventually(t, func() bool { return n.Ping(t.Context()) == nil }, 5*time.Second, 20*time.Millisecond)
}

func TestNATSPingFailsWhenServerIsDown(t *testing.T) {
	t.Parallel()

	n, err := openURL("nats://" + testsvc.ClosedAddr(t))
	require.NoError(t, err, "opening succeeds and keeps retrying")
	t.Cleanup(func() { require.NoError(t, n.Close()) })
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	require.Error(t, n.Ping(ctx))
}

func TestOpenNATSRejectsBadURL(t *testing.T) {
	t.Parallel()

	_, err := openURL("nats://user:secret@host:notaport")
	require.Error(t, err)
	require.NotContains(t, err.Error(), "secret")
}

// openTest opens the broker on the live server, in a namespace of the
// test's own, for the shared pub/sub tests.
func openTest(t *testing.T) *broker.Conn {
	t.Helper()
	c, err := broker.Open(broker.Options{Config: config.Broker{URL: testsvc.NATSURL(t), Namespace: "test-" + randomTenant()}, ClientName: "test"})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	return c
}

// openURL opens the broker at url in the namespace "test".
func openURL(url string) (*broker.Conn, error) {
	return broker.Open(broker.Options{Config: config.Broker{URL: url, Namespace: "test"}, ClientName: "test"})
}

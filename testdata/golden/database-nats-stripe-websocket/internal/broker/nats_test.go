package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"ledger.internal/svc/internal/broker"
	"ledger.internal/svc/internal/testsvc"
)

func TestNATSPing(t *testing.T) {
	t.Parallel()

	n, err := broker.OpenNATS(testsvc.NATSURL(t), "test")
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, n.Close()) })

	// The first connection is made in the background.
	require.Eventually(t, func() bool { return n.Ping(t.Context()) == nil }, 5*time.Second, 20*time.Millisecond)
}

func TestNATSPingFailsWhenServerIsDown(t *testing.T) {
	t.Parallel()

	n, err := broker.OpenNATS("nats://"+testsvc.ClosedAddr(t), "test")
	require.NoError(t, err, "opening succeeds and keeps retrying")
	t.Cleanup(func() { require.NoError(t, n.Close()) })
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	require.Error(t, n.Ping(ctx))
}

func TestOpenNATSRejectsBadURL(t *testing.T) {
	t.Parallel()

	_, err := broker.OpenNATS("nats://user:secret@host:notaport", "test")
	require.Error(t, err)
	require.NotContains(t, err.Error(), "secret")
}

package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/acme/shop-api/internal/broker"
	"github.com/acme/shop-api/internal/config"
	"github.com/acme/shop-api/internal/testsvc"
)

func TestRedisPing(t *testing.T) {
	t.Parallel()

	r, err := openURL(testsvc.RedisURL(t))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, r.Close()) })
	require.NoError(t, r.Ping(t.Context()))
}

func TestRedisPingFailsWhenServerIsDown(t *testing.T) {
	t.Parallel()

	r, err := openURL("redis://" + testsvc.ClosedAddr(t) + "/0")
	require.NoError(t, err, "opening is lazy")
	t.Cleanup(func() { require.NoError(t, r.Close()) })
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	require.Error(t, r.Ping(ctx))
}

func TestOpenRedisRejectsBadURL(t *testing.T) {
	t.Parallel()

	_, err := openURL("http://user:secret@localhost")
	require.Error(t, err)
	require.NotContains(t, err.Error(), "secret")
}

// openTest opens the broker on the live server, in a namespace of the
// test's own, for the shared pub/sub tests.
func openTest(t *testing.T) *broker.Conn {
	t.Helper()
	c, err := broker.Open(broker.Options{Config: config.Broker{URL: testsvc.RedisURL(t), Namespace: "test-" + randomTenant()}, ClientName: "test"})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	return c
}

// openURL opens the broker at url in the namespace "test".
func openURL(url string) (*broker.Conn, error) {
	return broker.Open(broker.Options{Config: config.Broker{URL: url, Namespace: "test"}, ClientName: "test"})
}

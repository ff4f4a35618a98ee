package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/acme/shop-api/internal/broker"
	"github.com/acme/shop-api/internal/testsvc"
)

func TestRedisPing(t *testing.T) {
	t.Parallel()

	r, err := broker.OpenRedis(testsvc.RedisURL(t), "test")
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, r.Close()) })
	require.NoError(t, r.Ping(t.Context()))
}

func TestRedisPingFailsWhenServerIsDown(t *testing.T) {
	t.Parallel()

	r, err := broker.OpenRedis("redis://"+testsvc.ClosedAddr(t)+"/0", "test")
	require.NoError(t, err, "opening is lazy")
	t.Cleanup(func() { require.NoError(t, r.Close()) })
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	require.Error(t, r.Ping(ctx))
}

func TestOpenRedisRejectsBadURL(t *testing.T) {
	t.Parallel()

	_, err := broker.OpenRedis("http://user:secret@localhost", "test")
	require.Error(t, err)
	require.NotContains(t, err.Error(), "secret")
}

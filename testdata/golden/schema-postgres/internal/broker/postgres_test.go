package broker_test

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"example.com/acme/internal/broker"
	"example.com/acme/internal/testsvc"
)

func TestOpenNeedsThePool(t *testing.T) {
	t.Parallel()

	_, err := broker.Open(broker.Options{ClientName: "test"})
	require.ErrorContains(t, err, "Pool is required")
}

// openTest opens the broker over a fresh database, for the shared pub/sub
// tests.
func openTest(t *testing.T) *broker.Conn {
	t.Helper()
	pool, err := pgxpool.New(t.Context(), testsvc.NewDatabase(t))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	c, err := broker.Open(broker.Options{Pool: pool, ClientName: "test"})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	return c
}

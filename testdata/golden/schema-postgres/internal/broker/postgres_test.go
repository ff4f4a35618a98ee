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

// Behind PgBouncer in transaction mode a LISTEN through the proxy hears
// nothing: with a session pool (DATABASE_SESSION_URL) subscribers listen
// around it, while publishing still goes through it.
func TestPubSubBehindATransactionPooler(t *testing.T) {
	t.Parallel()

	direct := testsvc.NewDatabase(t)
	pooled, err := pgxpool.New(t.Context(), testsvc.ThroughPooler(t, direct))
	require.NoError(t, err)
	t.Cleanup(pooled.Close)
	session, err := pgxpool.New(t.Context(), direct)
	require.NoError(t, err)
	t.Cleanup(session.Close)
	c, err := broker.Open(broker.Options{Pool: pooled, SessionPool: session, ClientName: "test"})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })

	topic := broker.Topic{Tenant: randomTenant(), Name: "events"}
	got, err := c.Subscribe(t.Context(), topic)
	require.NoError(t, err)
	require.NoError(t, c.Publish(t.Context(), topic, []byte(`{"kind":"project.created"}`)))
	require.JSONEq(t, `{"kind":"project.created"}`, string(receive(t, got)))
}

package testsvc

import (
	"testing"

	"github.com/acme/shop-api/internal/broker"
	"github.com/acme/shop-api/internal/config"
	"github.com/acme/shop-api/internal/postgres"
)

// OpenPubSub opens the live broker's pub/sub (for a broker living in
// Postgres, on a fresh database of AppEnv's); it closes when the test
// ends. Processes that share one such pub/sub share its messages.
func OpenPubSub(tb testing.TB) broker.PubSub {
	tb.Helper()
	cfg, err := config.Load(Getenv(AppEnv(tb)))
	if err != nil {
		tb.Fatalf("broker configuration: %v", err)
	}
	pool, err := postgres.Open(tb.Context(), cfg.Database.URL, "pubsub-test")
	if err != nil {
		tb.Fatalf("open the database: %v", err)
	}
	tb.Cleanup(pool.Close)
	conn, err := broker.Open(broker.Options{Config: cfg.Broker, Pool: pool, ClientName: "pubsub-test"})
	if err != nil {
		tb.Fatalf("open the broker: %v", err)
	}
	tb.Cleanup(func() { _ = conn.Close() })
	return conn
}

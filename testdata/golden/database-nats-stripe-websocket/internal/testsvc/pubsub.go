package testsvc

import (
	"testing"

	"ledger.internal/svc/internal/broker"
	"ledger.internal/svc/internal/config"
	"ledger.internal/svc/internal/postgres"
)

// OpenPubSub opens the live broker's pub/sub, with a pool on databaseURL
// for a broker living in Postgres; both close when the test ends.
func OpenPubSub(tb testing.TB, databaseURL string) broker.PubSub {
	tb.Helper()
	// The app's whole configuration, for the broker's part of it.
	env := AppEnv(tb)
	env["DATABASE_URL"] = databaseURL
	cfg, err := config.Load(Getenv(env))
	if err != nil {
		tb.Fatalf("broker configuration: %v", err)
	}
	pool, err := postgres.Open(tb.Context(), databaseURL, "pubsub-test")
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

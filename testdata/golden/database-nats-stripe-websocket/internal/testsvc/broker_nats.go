package testsvc

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATSURL returns TEST_NATS_URL: a NATS server with JetStream enabled.
func NATSURL(tb testing.TB) string {
	tb.Helper()
	return lookup(tb, "TEST_NATS_URL", "NATS")
}

// BrokerEnv returns the broker's part of AppEnv: the live NATS server, and
// a JOBS_NAMESPACE of the test's own, since tests run in parallel against
// one server.
func BrokerEnv(tb testing.TB) map[string]string {
	tb.Helper()
	return map[string]string{
		"NATS_URL":       NATSURL(tb),
		"JOBS_NAMESPACE": jobsNamespace(tb),
	}
}

// jobsNamespace returns a fresh JOBS_NAMESPACE for a test and removes the
// streams and bucket the jobs left under it on the shared server when the
// test ends.
func jobsNamespace(tb testing.TB) string {
	tb.Helper()
	ns := "test-" + randomLabel()
	url := NATSURL(tb)
	tb.Cleanup(func() {
		nc, err := nats.Connect(url)
		if err != nil {
			tb.Errorf("connect to TEST_NATS_URL: %v", err)
			return
		}
		defer nc.Close()
		js, err := jetstream.New(nc)
		if err != nil {
			tb.Errorf("jetstream: %v", err)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		prefix := strings.ToUpper(strings.ReplaceAll(ns, "-", "_"))
		_ = js.DeleteStream(ctx, prefix+"_JOBS")
		_ = js.DeleteStream(ctx, prefix+"_JOBS_DEAD")
		_ = js.DeleteKeyValue(ctx, prefix+"_JOBS_FAILED")
	})
	return ns
}

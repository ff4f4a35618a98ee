package testsvc

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// JobsNamespace returns a fresh JOBS_NAMESPACE for a test and removes
// whatever the jobs left under it in the shared broker when the test ends.
func JobsNamespace(tb testing.TB) string {
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

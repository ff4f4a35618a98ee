package billing_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/acme/shop-api/internal/jobs"
	"github.com/acme/shop-api/internal/postgres"
	"github.com/acme/shop-api/internal/postgres/db"
	"github.com/acme/shop-api/internal/testsvc"
)

// BenchmarkProcessEvents measures the worker end to end: b.N events,
// received through the intake (Verify, Store) before the timer starts, are
// then applied by a worker working the default queue with the
// concurrency `worker` uses by default. The events are a mix over 50
// subscribed tenants: subscription updates, paid and failed invoices.
// It reports events/s, and the worker's heap after a GC when a tenth of
// the events are done and when all are, which must stay flat however
// many events go through:
//
//	go test ./internal/billing -run '^$' -bench BenchmarkProcessEvents -benchtime 100000x -timeout 30m
func BenchmarkProcessEvents(b *testing.B) {
	ctx := b.Context()
	dbURL := testsvc.NewDatabase(b)
	pool, err := postgres.Open(ctx, dbURL, "bench")
	require.NoError(b, err)
	b.Cleanup(pool.Close)
	m, err := postgres.NewMigrator(pool)
	require.NoError(b, err)
	_, err = m.Up(ctx)
	require.NoError(b, err)
	require.NoError(b, m.Close())
	require.NoError(b, jobs.MigrateQueue(ctx, pool, io.Discard))
	const tenants = 50
	customers := make([]string, tenants)
	for i := range customers {
		row, insertErr := db.New(pool).InsertTenant(ctx, db.InsertTenantParams{Slug: fmt.Sprintf("bench-%d", i), Name: "Bench"})
		require.NoError(b, insertErr)
		customers[i] = fmt.Sprintf("cus_bench_%d", i)
		_, err = pool.Exec(ctx, `INSERT INTO billing_customers (tenant_id, stripe_customer_id) VALUES ($1, $2)`, row.ID, customers[i])
		require.NoError(b, err)
	}
	svc, client := testsvc.NewBilling(b, dbURL, &http.Client{Timeout: 10 * time.Second})

	start := time.Now().Add(-time.Hour)
	for i := range b.N {
		customer := customers[i%tenants]
		sub := "sub_" + customer
		var (
			typ    string
			object map[string]any
		)
		switch i % 3 {
		case 0:
			item := map[string]any{"quantity": 1 + i%7, "price": map[string]any{"id": "price_pro_monthly"}}
			typ, object = "customer.subscription.updated", map[string]any{
				"id": sub, "object": "subscription", "customer": customer, "status": "active",
				"items": map[string]any{"data": []map[string]any{item}},
			}
		case 1:
			typ, object = "invoice.paid", map[string]any{"id": fmt.Sprintf("in_%d", i), "subscription": sub, "customer": customer}
		default:
			typ, object = "invoice.payment_failed", map[string]any{"id": fmt.Sprintf("in_%d", i), "subscription": sub, "customer": customer}
		}
		body, header := benchEvent(b, fmt.Sprintf("evt_proc_%d", i), typ, start.Add(time.Duration(i)*time.Millisecond), object)
		ev, verifyErr := svc.Verify(body, header, time.Now())
		require.NoError(b, verifyErr)
		_, err = svc.Store(ctx, ev)
		require.NoError(b, err)
	}

	reg := jobs.NewRegistry()
	jobs.Handle(reg, svc.HandleEvent)
	w, err := jobs.NewWorker(client, jobs.WorkerConfig{Registry: reg, Queues: map[string]int{jobs.QueueDefault: 10}, ShutdownTimeout: 5 * time.Second})
	require.NoError(b, err)
	runtime.GC()
	b.ResetTimer()
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()

	var tenth uint64
	for {
		var left int
		require.NoError(b, pool.QueryRow(ctx, `SELECT count(*) FROM billing_events WHERE processed_at IS NULL`).Scan(&left))
		if left == 0 {
			break
		}
		if tenth == 0 && left <= b.N*9/10 {
			tenth = heapAfterGC()
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.StopTimer()
	end := heapAfterGC()
	cancel()
	if runErr := <-done; runErr != nil && !errors.Is(runErr, context.Canceled) {
		b.Fatal(runErr)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	if tenth > 0 {
		b.ReportMetric(float64(tenth)/(1<<20), "heap-MB-at-10%")
	}
	b.ReportMetric(float64(end)/(1<<20), "heap-MB-at-end")
}

// heapAfterGC returns the bytes of live heap objects after a collection.
func heapAfterGC() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// benchEvent returns a signed webhook body for an event.
func benchEvent(tb testing.TB, id, typ string, created time.Time, object map[string]any) ([]byte, string) {
	tb.Helper()
	obj, err := json.Marshal(object)
	require.NoError(tb, err)
	payload, err := json.Marshal(map[string]any{
		"id": id, "object": "event", "type": typ, "created": created.Unix(),
		"api_version": stripe.APIVersion, "data": map[string]any{"object": json.RawMessage(obj)},
	})
	require.NoError(tb, err)
	sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: webhookSecret})
	return sp.Payload, sp.Header
}

package jobs_test

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/acme/shop-api/internal/jobs"
)

// The benchmarks measure the whole path a job takes on this broker: the
// enqueue in a business transaction, the relay, the broker, and a worker
// running a no-op handler in its tenant's scope (jobs.TenantsScope, as in
// production: the tenant resolved, its transaction entered, the idempotency
// key recorded). Run them one at a time, e.g.:
//
//	go test -run '^$' -bench 'Throughput' -benchtime 5000x ./internal/jobs
//	go test -run '^$' -bench 'Latency' -benchtime 300x ./internal/jobs

// benchArgs is the benchmarks' job.
type benchArgs struct {
	Seq int `json:"seq"`
}

func (benchArgs) Kind() string { return "bench.noop" }

// benchWorkers is the queue's concurrency in the benchmarks.
const benchWorkers = 20

// benchEnqueuers is how many goroutines enqueue at once, each job in a
// transaction of its own, as concurrent requests would.
const benchEnqueuers = 8

// startBenchWorker runs a worker whose handler calls onRun.
func startBenchWorker(b *testing.B, bundle *tenancyBundle, onRun func(seq int)) {
	b.Helper()
	reg := jobs.NewRegistry()
	jobs.Handle(reg, func(_ context.Context, _ pgx.Tx, d *jobs.Delivery[benchArgs]) error {
		onRun(d.Args.Seq)
		return nil
	})
	bundle.startWorker(b, func(c *jobs.WorkerConfig) {
		c.Registry = reg
		c.Scope = jobs.TenantsScope(bundle.pool, bundle.tenants)
		c.Queues = map[string]int{bundle.queue: benchWorkers}
	})
}

// enqueueAll enqueues n jobs from benchEnqueuers goroutines.
func enqueueAll(b *testing.B, bundle *tenancyBundle, n int) {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, benchEnqueuers)
	for range benchEnqueuers {
		wg.Go(func() {
			for {
				seq := int(next.Add(1))
				if seq > n {
					return
				}
				err := pgx.BeginFunc(b.Context(), bundle.pool, func(tx pgx.Tx) error {
					_, err := bundle.client.Enqueue(b.Context(), tx, jobs.Job{
						Tenant: bundle.tenantA, Args: benchArgs{Seq: seq}, Options: jobs.Options{Queue: bundle.queue},
					})
					return err
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(b, err)
	}
}

// waitDone waits until done reaches n.
func waitDone(b *testing.B, done *atomic.Int64, n int) {
	b.Helper()
	deadline := time.Now().Add(10 * time.Minute)
	for done.Load() < int64(n) {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d jobs done after 10 minutes", done.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func BenchmarkThroughput(b *testing.B) {
	b.Run("enqueue", func(b *testing.B) {
		bundle := setupTenancy(b)
		b.ResetTimer()
		enqueueAll(b, bundle, b.N)
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
	})
	b.Run("process-backlog", func(b *testing.B) {
		bundle := setupTenancy(b)
		enqueueAll(b, bundle, b.N)
		var done atomic.Int64
		b.ResetTimer()
		startBenchWorker(b, bundle, func(int) { done.Add(1) })
		waitDone(b, &done, b.N)
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
	})
	b.Run("enqueue+process", func(b *testing.B) {
		bundle := setupTenancy(b)
		var done atomic.Int64
		startBenchWorker(b, bundle, func(int) { done.Add(1) })
		b.ResetTimer()
		enqueueAll(b, bundle, b.N)
		waitDone(b, &done, b.N)
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
	})
}

// BenchmarkLatency enqueues one job at a time on an idle worker and measures
// from just before the enqueueing transaction commits to the handler
// starting: what a user waits for an email to leave.
func BenchmarkLatency(b *testing.B) {
	bundle := setupTenancy(b)
	started := make(chan int, 1)
	startBenchWorker(b, bundle, func(seq int) { started <- seq })
	latencies := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		err := pgx.BeginFunc(b.Context(), bundle.pool, func(tx pgx.Tx) error {
			_, err := bundle.client.Enqueue(b.Context(), tx, jobs.Job{
				Tenant: bundle.tenantA, Args: benchArgs{Seq: i}, Options: jobs.Options{Queue: bundle.queue},
			})
			return err
		})
		require.NoError(b, err)
		select {
		case seq := <-started:
			require.Equal(b, i, seq)
		case <-time.After(time.Minute):
			b.Fatalf("job %d did not start within a minute", i)
		}
		latencies = append(latencies, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		return float64(latencies[int(p*float64(len(latencies)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(0, "ns/op")
}

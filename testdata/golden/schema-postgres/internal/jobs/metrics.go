package jobs

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the worker's job metrics. Register Collectors with the
// registry /metrics serves.
type Metrics struct {
	processed *prometheus.CounterVec
	failed    *prometheus.CounterVec
	retried   *prometheus.CounterVec
	discarded *prometheus.CounterVec
	running   *prometheus.GaugeVec
	duration  *prometheus.HistogramVec
	wait      *prometheus.HistogramVec
}

// NewMetrics returns unregistered job metrics.
func NewMetrics() *Metrics {
	labels := []string{"queue", "kind"}
	return &Metrics{
		processed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jobs_processed_total",
			Help: "Job runs that succeeded, by queue and kind.",
		}, labels),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jobs_failed_total",
			Help: "Job runs that returned an error, by queue and kind.",
		}, labels),
		retried: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jobs_retried_total",
			Help: "Job runs that were a second or later attempt, by queue and kind.",
		}, labels),
		discarded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jobs_discarded_total",
			Help: "Jobs that failed on their last attempt, by queue and kind.",
		}, labels),
		running: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "jobs_running",
			Help: "Jobs this worker is running now, by queue and kind.",
		}, labels),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "jobs_run_duration_seconds",
			Help:    "Time a job run took, by queue and kind.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}, labels),
		wait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "jobs_wait_seconds",
			Help:    "Time from a job being due to its run starting (end-to-end latency), by queue.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}, []string{"queue"}),
	}
}

// Collectors returns the metrics to register.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.processed, m.failed, m.retried, m.discarded, m.running, m.duration, m.wait}
}

func (m *Metrics) started(d meta, now time.Time) {
	m.running.WithLabelValues(d.Queue, d.Kind).Inc()
	if d.Attempt > 1 {
		m.retried.WithLabelValues(d.Queue, d.Kind).Inc()
	}
	if !d.Since.IsZero() && d.Attempt == 1 {
		m.wait.WithLabelValues(d.Queue).Observe(max(now.Sub(d.Since), 0).Seconds())
	}
}

func (m *Metrics) finished(d meta, elapsed time.Duration, err error) {
	m.running.WithLabelValues(d.Queue, d.Kind).Dec()
	m.duration.WithLabelValues(d.Queue, d.Kind).Observe(elapsed.Seconds())
	if err == nil {
		m.processed.WithLabelValues(d.Queue, d.Kind).Inc()
		return
	}
	m.failed.WithLabelValues(d.Queue, d.Kind).Inc()
	if d.Attempt >= d.MaxAttempts {
		m.discarded.WithLabelValues(d.Queue, d.Kind).Inc()
	}
}

// depth is the number of jobs in one queue and state.
type depth struct {
	queue string
	state string
	count int64
}

// depthTimeout bounds the broker query behind one scrape.
const depthTimeout = 5 * time.Second

// depthCollector reports queue depth, asking the broker at scrape time.
type depthCollector struct {
	client *Client
	logger *slog.Logger
	desc   *prometheus.Desc
}

// DepthCollector returns a collector of the gauge jobs_queue_depth{queue,
// state}: how many jobs wait in each queue and state, read from the broker
// when /metrics is scraped.
func (c *Client) DepthCollector(logger *slog.Logger) prometheus.Collector {
	return &depthCollector{
		client: c,
		logger: logger,
		desc: prometheus.NewDesc("jobs_queue_depth",
			"Jobs in each queue and state, read from the broker at scrape time.",
			[]string{"queue", "state"}, nil),
	}
}

func (d *depthCollector) Describe(ch chan<- *prometheus.Desc) { ch <- d.desc }

func (d *depthCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), depthTimeout)
	defer cancel()
	depths, err := d.client.depth(ctx)
	if err != nil {
		d.logger.WarnContext(ctx, "read job queue depth", slog.Any("error", err))
		return
	}
	for _, q := range depths {
		ch <- prometheus.MustNewConstMetric(d.desc, prometheus.GaugeValue, float64(q.count), q.queue, q.state)
	}
}

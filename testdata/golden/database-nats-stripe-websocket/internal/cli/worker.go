package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"ledger.internal/svc/internal/billing"
	"ledger.internal/svc/internal/config"
	"ledger.internal/svc/internal/httpapi"
	"ledger.internal/svc/internal/jobs"
	"ledger.internal/svc/internal/logging"
	"ledger.internal/svc/internal/mail"
	"ledger.internal/svc/internal/postgres"
)

func runWorker(ctx context.Context, e env, args []string) error {
	if _, err := parseFlags(e, "worker", args, 0); err != nil {
		return err
	}
	return process{role: "worker", works: true, format: logging.JSON}.run(ctx, e, func(cfg config.Config, logger *slog.Logger, s *services) error {
		return runWorkerProcess(ctx, cfg, logger, s)
	})
}

// runWorkerProcess works jobs and serves the worker's metrics until ctx is
// cancelled.
func runWorkerProcess(ctx context.Context, cfg config.Config, logger *slog.Logger, s *services) error {
	metrics := jobs.NewMetrics()
	collectors := append(metrics.Collectors(), s.jobs.DepthCollector(logger))
	srv := newHTTPServer(httpapi.NewMetricsHandler(cfg.MetricsToken, collectors...), logger)
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.WorkerMetricsAddr)
	if err != nil {
		return fmt.Errorf("listen on WORKER_METRICS_ADDR: %w", err)
	}
	logger.InfoContext(ctx, "worker metrics listening", slog.String("addr", ln.Addr().String()))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	workErr := work(ctx, cfg, logger, s, metrics)
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return errors.Join(workErr, fmt.Errorf("metrics server shutdown: %w", err))
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return errors.Join(workErr, fmt.Errorf("metrics server: %w", err))
	}
	return workErr
}

// registry returns every job handler of the application; mail sends are
// logged in the control plane through s's pool.
func registry(cfg config.Config, s *services, client *jobs.Client) (*jobs.Registry, error) {
	sealer, err := mail.NewSealer(cfg.SecretKey)
	if err != nil {
		return nil, err
	}
	sender, err := mail.NewSender(cfg.SMTPURL, cfg.MailFrom, sealer)
	if err != nil {
		return nil, err
	}
	r := jobs.NewRegistry()
	jobs.Handle(r, sender.LogSent(s.pool).Handle)
	jobs.Handle(r, client.HandlePrune)
	jobs.Handle(r, jobs.HandlePruneTenant)
	return r, nil
}

// periodicJobs are the jobs the worker enqueues on schedules: the audit
// log's pruning only when AUDIT_RETENTION is set.
func periodicJobs(cfg config.Config) []jobs.PeriodicJob {
	periodic := []jobs.PeriodicJob{jobs.PrunePeriodic, billing.ReportUsagePeriodic, billing.ReconcilePeriodic, billing.RemoveCustomersPeriodic}
	if cfg.AuditRetention > 0 {
		periodic = append(periodic, postgres.AuditPrunePeriodic)
	}
	return periodic
}

// work runs the worker until ctx is cancelled, then shuts it down
// gracefully: running jobs get cfg.ShutdownTimeout to finish.
func work(ctx context.Context, cfg config.Config, logger *slog.Logger, s *services, metrics *jobs.Metrics) error {
	reg, err := registry(cfg, s, s.jobs)
	if err != nil {
		return err
	}
	bill, err := openBilling(cfg, s, logger)
	if err != nil {
		return err
	}
	jobs.Handle(reg, bill.HandleEvent)
	jobs.Handle(reg, bill.HandleReportUsage)
	jobs.Handle(reg, bill.HandleReconcile)
	jobs.Handle(reg, bill.HandleRemoveCustomers)
	jobs.Handle(reg, bill.HandleSyncSeats)
	jobs.Handle(reg, bill.HandleDunningEmail)
	jobs.Handle(reg, postgres.NewAuditLog(s.tenants).PruneJob(cfg.AuditRetention))
	w, err := jobs.NewWorker(s.jobs, jobs.WorkerConfig{
		Registry:        reg,
		Queues:          cfg.WorkerConcurrency,
		Scope:           jobs.TenantsScope(s.pool, s.tenants),
		Metrics:         metrics,
		ShutdownTimeout: cfg.ShutdownTimeout,
		JobTimeout:      cfg.JobTimeout,
		RescueAfter:     cfg.JobRescueAfter,
		Periodic:        periodicJobs(cfg),
	})
	if err != nil {
		return err
	}
	queues := make([]string, 0, len(cfg.WorkerConcurrency))
	for _, q := range slices.Sorted(maps.Keys(cfg.WorkerConcurrency)) {
		queues = append(queues, fmt.Sprintf("%s=%d", q, cfg.WorkerConcurrency[q]))
	}
	logger.InfoContext(ctx, "worker started", slog.String("queues", strings.Join(queues, ",")), slog.String("version", version()))
	if err := w.Run(ctx); err != nil {
		return err
	}
	logger.InfoContext(ctx, "worker stopped")
	return nil
}

// jobCollectors are the job metrics the API's /metrics serves: queue depth,
// and in dev (worker in the same process) the worker's own.
func jobCollectors(logger *slog.Logger, s *services, metrics *jobs.Metrics) []prometheus.Collector {
	collectors := []prometheus.Collector{s.jobs.DepthCollector(logger)}
	if metrics != nil {
		collectors = append(collectors, metrics.Collectors()...)
	}
	return collectors
}

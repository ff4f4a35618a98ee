package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/acme/shop-api/internal/config"
	"github.com/acme/shop-api/internal/httpapi"
	"github.com/acme/shop-api/internal/jobs"
	"github.com/acme/shop-api/internal/logging"
	"github.com/acme/shop-api/internal/postgres"
	"github.com/acme/shop-api/internal/realtime"
)

func runServe(ctx context.Context, e env, args []string) error {
	if _, err := parseFlags(e, "serve", args, 0); err != nil {
		return err
	}
	return process{format: logging.JSON}.run(ctx, e, func(cfg config.Config, logger *slog.Logger, s *services) error {
		return serve(ctx, cfg, logger, s, jobCollectors(logger, s, nil))
	})
}

// runDev migrates, then serves the API and works jobs in one process until
// ctx is cancelled; if either stops on an error, the other is stopped too.
func runDev(ctx context.Context, e env, args []string) error {
	if _, err := parseFlags(e, "dev", args, 0); err != nil {
		return err
	}
	migrate := func(ctx context.Context, cfg config.Config) error {
		return migrateUp(ctx, cfg.Database, e.stdout, e.stderr)
	}
	return process{works: true, format: logging.Text, before: migrate}.run(ctx, e, func(cfg config.Config, logger *slog.Logger, s *services) error {
		// Either half stopping stops the other.
		runCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		metrics := jobs.NewMetrics()
		var wg sync.WaitGroup
		var serveErr, workErr error
		wg.Go(func() {
			defer cancel()
			serveErr = serve(runCtx, cfg, logger, s, jobCollectors(logger, s, metrics))
		})
		wg.Go(func() {
			defer cancel()
			workErr = work(runCtx, cfg, logger, s, metrics)
		})
		wg.Wait()
		return errors.Join(serveErr, workErr)
	})
}

// serve runs the HTTP server until ctx is cancelled, then shuts it down
// gracefully: in-flight requests get cfg.ShutdownTimeout to finish.
func serve(ctx context.Context, cfg config.Config, logger *slog.Logger, s *services, collectors []prometheus.Collector) error {
	bill, err := openBilling(cfg, s, logger)
	if err != nil {
		return err
	}
	collectors = append(collectors, bill.Collectors()...)
	identity, err := openIdentity(cfg, s, logger, bill)
	if err != nil {
		return err
	}
	hub, err := realtime.NewHub(ctx, realtime.Options{
		PubSub: s.pubsub, Identity: identity, Tenants: s.tenants, History: s.history, Logger: logger,
		AllowedOrigins: cfg.Realtime.AllowedOrigins,
		MaxPerUser:     cfg.Realtime.MaxPerUser, MaxPerTenant: cfg.Realtime.MaxPerTenant,
		RecheckInterval: cfg.Realtime.RecheckInterval,
	})
	if err != nil {
		return err
	}
	// Closes the WebSockets with "going away", and waits for them.
	defer hub.Shutdown()
	handler, err := httpapi.NewHandler(httpapi.Deps{
		Logger:         logger,
		Version:        version(),
		BaseDomain:     cfg.BaseDomain,
		Tenants:        s.tenants,
		Identity:       identity,
		Audit:          postgres.NewAuditLog(s.tenants),
		Checks:         s.checks,
		Collectors:     collectors,
		TrustedProxies: cfg.TrustedProxies,
		MetricsToken:   cfg.MetricsToken,
		RateLimits: httpapi.RateLimits{
			IP:     httpapi.Rate(cfg.RateLimitIP),
			User:   httpapi.Rate(cfg.RateLimitUser),
			Tenant: httpapi.Rate(cfg.RateLimitTenant),
		},
		Realtime: httpapi.Realtime{Hub: hub},
		Billing:  bill,
	})
	if err != nil {
		return err
	}

	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on HTTP_ADDR: %w", err)
	}
	logger.InfoContext(ctx, "http server listening", slog.String("addr", ln.Addr().String()), slog.String("version", version()))
	srv := newHTTPServer(handler, logger)
	// http.Server.Shutdown neither closes nor waits for WebSockets: they
	// are told the server is going away as it starts shutting down.
	srv.RegisterOnShutdown(hub.Shutdown)
	if err := serveUntilDone(ctx, srv, ln, cfg.ShutdownTimeout, logger); err != nil {
		return err
	}
	logger.InfoContext(ctx, "server stopped")
	return nil
}

// newHTTPServer returns the API's server with every timeout set, so that a
// slow or idle client cannot hold a connection (and its goroutine) forever.
func newHTTPServer(handler http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// serveUntilDone serves ln until ctx is cancelled, then stops accepting
// connections and gives in-flight requests up to timeout to finish. Past
// the timeout it closes the connections still open, which cancels their
// requests' contexts, so that handlers stop before the caller closes what
// they use.
func serveUntilDone(ctx context.Context, srv *http.Server, ln net.Listener, timeout time.Duration, logger *slog.Logger) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}

	logger.InfoContext(ctx, "shutting down", slog.String("timeout", timeout.String()))
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return errors.Join(fmt.Errorf("graceful shutdown: %w", err), srv.Close())
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http server: %w", err)
	}
	return nil
}

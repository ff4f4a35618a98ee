package cli

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/acme/shop-api/internal/config"
)

// runHealthcheck asks the server on HTTP_ADDR (or, for `healthcheck
// worker`, the worker's on WORKER_METRICS_ADDR) for /healthz. The image is
// distroless (no shell, no curl), so the container health check runs the
// binary itself.
func runHealthcheck(ctx context.Context, e env, args []string) error {
	rest, err := parseFlags(e, "healthcheck", args, 1)
	if err != nil {
		return err
	}
	variable, fallback := "HTTP_ADDR", config.DefaultHTTPAddr
	if len(rest) == 1 {
		if rest[0] != "worker" {
			return &UsageError{msg: fmt.Sprintf("healthcheck: unknown process %q (want worker, or nothing for the API)", rest[0])}
		}
		variable, fallback = "WORKER_METRICS_ADDR", config.DefaultWorkerMetricsAddr
	}
	addr, err := config.LoadListenAddr(e.getenv, variable, fallback)
	if err != nil {
		return err
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s: %w", variable, err)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	url := "http://" + net.JoinHostPort(host, port) + "/healthz"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, http.NoBody)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer func() { _ = res.Body.Close() }()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s", url, res.Status)
	}
	fmt.Fprintln(e.stdout, "ok")
	return nil
}

package cli

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"example.com/acme/internal/config"
)

// runHealthcheck asks the server on HTTP_ADDR for /healthz. The image is
// distroless (no shell, no curl), so the container health check runs the
// binary itself.
func runHealthcheck(ctx context.Context, e env, args []string) error {
	if _, err := parseFlags(e, "healthcheck", args, 0); err != nil {
		return err
	}
	addr, err := config.LoadHTTPAddr(e.getenv)
	if err != nil {
		return err
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("HTTP_ADDR: %w", err)
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

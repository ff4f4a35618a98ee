package testsvc

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	osexec "os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/acme/shop-api/internal/billing"
	"github.com/acme/shop-api/internal/broker"
	"github.com/acme/shop-api/internal/config"
	"github.com/acme/shop-api/internal/jobs"
	"github.com/acme/shop-api/internal/mail"
	"github.com/acme/shop-api/internal/postgres"
)

// TestWebhookSecret is the STRIPE_WEBHOOK_SECRET of NewBilling's service.
const TestWebhookSecret = "whsec_test_secret" //nolint:gosec // G101: a test fixture

// NewBilling returns a billing service (built-in plans) on the migrated
// control plane at databaseURL, with a job client on the live broker and
// Stripe at stripe-mock, and that job client. httpClient carries its calls
// to Stripe (nil for the default).
func NewBilling(tb testing.TB, databaseURL string, httpClient *http.Client) (*billing.Service, *jobs.Client) {
	tb.Helper()
	env := map[string]string{
		"DATABASE_URL":          databaseURL,
		"SECRET_KEY":            TestSecretKey,
		"STRIPE_SECRET_KEY":     "sk_test_123",
		"STRIPE_WEBHOOK_SECRET": TestWebhookSecret,
		"STRIPE_API_BASE":       StripeURL(tb),
	}
	maps.Copy(env, BrokerEnv(tb))
	cfg, err := config.Load(Getenv(env))
	if err != nil {
		tb.Fatalf("billing configuration: %v", err)
	}
	pool, err := postgres.Open(tb.Context(), cfg.Database.URL, "test-billing")
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	tb.Cleanup(pool.Close)
	b, err := broker.Open(broker.Options{Config: cfg.Broker, Pool: pool, ClientName: "test"})
	if err != nil {
		tb.Fatalf("broker: %v", err)
	}
	tb.Cleanup(func() { _ = b.Close() })
	client, err := jobs.Open(tb.Context(), jobs.Config{Pool: pool, Logger: slog.New(slog.DiscardHandler), Name: cfg.Broker.Namespace, Broker: b})
	if err != nil {
		tb.Fatalf("jobs: %v", err)
	}
	tb.Cleanup(func() { _ = client.Close() })
	plans, err := billing.LoadPlans(cfg.BillingPlans)
	if err != nil {
		tb.Fatalf("plans: %v", err)
	}
	sealer, err := mail.NewSealer(cfg.SecretKey)
	if err != nil {
		tb.Fatalf("mail sealer: %v", err)
	}
	return billing.New(billing.Config{
		Pool: pool, Jobs: client, Plans: plans, Mail: mail.NewQueue(client, sealer),
		SecretKey: cfg.StripeSecretKey, WebhookSecret: cfg.StripeWebhookSecret, APIBase: cfg.StripeAPIBase,
		HTTPClient: httpClient, ReturnURL: "https://example.com/billing",
	}), client
}

// stripeMock is the stripe-mock this test process started, shared by its
// tests.
var stripeMock struct {
	once sync.Once
	url  string
	err  error
}

// StripeURL returns the base URL of a stripe-mock: TEST_STRIPE_API_BASE,
// or else one started from stripe-mock on PATH on free loopback ports (both
// its HTTP and its HTTPS listener, so that several can run), stopped when
// the process exits. Without either the test is skipped, or fails under
// SAASKIT_REQUIRE_SERVICES=1.
func StripeURL(tb testing.TB) string {
	tb.Helper()
	if v := os.Getenv("TEST_STRIPE_API_BASE"); v != "" {
		return v
	}
	if _, err := osexec.LookPath("stripe-mock"); err != nil {
		return lookup(tb, "TEST_STRIPE_API_BASE", "stripe-mock (nor is stripe-mock on PATH)")
	}
	stripeMock.once.Do(func() { stripeMock.url, stripeMock.err = startStripeMock() })
	if stripeMock.err != nil {
		tb.Fatalf("start stripe-mock: %v", stripeMock.err)
	}
	return stripeMock.url
}

// startStripeMock runs stripe-mock on two free loopback ports and waits
// for its HTTP listener.
func startStripeMock() (string, error) {
	httpAddr, err := freeAddr()
	if err != nil {
		return "", err
	}
	httpsAddr, err := freeAddr()
	if err != nil {
		return "", err
	}
	// It lives as long as the test process; the OS reaps it with it.
	cmd := osexec.CommandContext(context.Background(), "stripe-mock", "-http-addr", httpAddr, "-https-addr", httpsAddr) //nolint:gosec // G204: fixed program, our own ports
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return "", err
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		signalled := false
		for sc.Scan() {
			if !signalled && strings.Contains(sc.Text(), "Listening for HTTP at address:") {
				close(ready)
				signalled = true
			}
		}
	}()
	select {
	case <-ready:
		return "http://" + httpAddr, nil
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		return "", fmt.Errorf("stripe-mock did not listen on %s within 30s", httpAddr)
	}
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr() (string, error) {
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().String(), nil
}

package httpapi_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"ledger.internal/svc/internal/httpapi"
	"ledger.internal/svc/internal/logging"
	"ledger.internal/svc/internal/postgres"
	"ledger.internal/svc/internal/testsvc"
)

// testBundle is what each test gets: the handler and the log it writes.
type testBundle struct {
	handler http.Handler
	logs    *testsvc.LogBuffer
}

func setup(t *testing.T, checks ...httpapi.Check) *testBundle {
	t.Helper()
	logs := &testsvc.LogBuffer{}
	handler, err := httpapi.NewHandler(httpapi.Deps{
		Logger:  logging.New(logs, slog.LevelDebug, logging.JSON),
		Version: "test",
		Checks:  checks,
	})
	require.NoError(t, err)
	return &testBundle{handler: handler, logs: logs}
}

// response is what a test needs of an HTTP response.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do serves one request with the given headers.
func (b *testBundle) do(t *testing.T, method, path string, header map[string]string) response {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), method, path, http.NoBody)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	b.handler.ServeHTTP(rec, req)
	return response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

// logLines decodes every JSON log line written so far.
func (b *testBundle) logLines(t *testing.T) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(b.logs.String()), "\n") {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), line)
		lines = append(lines, rec)
	}
	return lines
}

func TestHealthz(t *testing.T) {
	t.Parallel()
	b := setup(t)

	res := b.do(t, http.MethodGet, "/healthz", nil)
	require.Equal(t, http.StatusOK, res.status)
	require.JSONEq(t, `{"status":"ok"}`, withoutSchema(t, res.body))
	require.NotEmpty(t, res.header.Get(httpapi.RequestIDHeader))
}

func TestReadyzWithLiveDatabase(t *testing.T) {
	t.Parallel()
	pool, err := postgres.Open(t.Context(), testsvc.DatabaseURL(t), "test")
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	b := setup(t, httpapi.Check{Name: "database", Ping: pool.Ping})

	res := b.do(t, http.MethodGet, "/readyz", nil)
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	require.JSONEq(t, `{"status":"ok","checks":{"database":"ok"}}`, withoutSchema(t, res.body))
}

func TestReadyzWhenDatabaseIsUnreachable(t *testing.T) {
	t.Parallel()
	pool, err := postgres.Open(t.Context(), "postgres://app@"+testsvc.ClosedAddr(t)+"/app?connect_timeout=2", "test")
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	healthy := httpapi.Check{Name: "other", Ping: func(context.Context) error { return nil }}
	b := setup(t, httpapi.Check{Name: "database", Ping: pool.Ping}, healthy)

	res := b.do(t, http.MethodGet, "/readyz", nil)
	require.Equal(t, http.StatusServiceUnavailable, res.status)
	require.JSONEq(t, `{"status":"unavailable","checks":{"database":"unavailable","other":"ok"}}`, withoutSchema(t, res.body))
	require.NotContains(t, string(res.body), "refused", "causes are logged, not shown")
	require.Contains(t, b.logs.String(), "readiness check failed")
}

func TestReadyzTimesOutAHungCheck(t *testing.T) {
	t.Parallel()
	hung := httpapi.Check{Name: "hung", Ping: func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	}}
	b := setup(t, hung)

	start := time.Now()
	res := b.do(t, http.MethodGet, "/readyz", nil)
	require.Equal(t, http.StatusServiceUnavailable, res.status)
	require.Less(t, time.Since(start), 5*time.Second)
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	b := setup(t)

	res := b.do(t, http.MethodGet, "/healthz", map[string]string{"X-Request-ID": "edge-42.a:b_c"})
	require.Equal(t, "edge-42.a:b_c", res.header.Get(httpapi.RequestIDHeader), "a sane incoming id is kept")

	for _, bad := range []string{"has space", "new\nline", strings.Repeat("x", 129), "<script>"} {
		res := b.do(t, http.MethodGet, "/healthz", map[string]string{"X-Request-ID": bad})
		got := res.header.Get(httpapi.RequestIDHeader)
		require.NotEqual(t, bad, got)
		require.NotEmpty(t, got, "an insane id is replaced")
	}

	first := b.do(t, http.MethodGet, "/healthz", nil)
	second := b.do(t, http.MethodGet, "/healthz", nil)
	require.NotEqual(t, first.header.Get(httpapi.RequestIDHeader), second.header.Get(httpapi.RequestIDHeader))
}

func TestEveryRequestIsLoggedWithItsID(t *testing.T) {
	t.Parallel()
	b := setup(t)

	res := b.do(t, http.MethodGet, "/healthz", nil)
	lines := b.logLines(t)
	require.Len(t, lines, 1)
	line := lines[0]
	require.Equal(t, "http request", line["msg"])
	require.Equal(t, res.header.Get(httpapi.RequestIDHeader), line["request_id"])
	require.Equal(t, "GET /healthz", line["route"])
	require.Equal(t, "/healthz", line["path"])
	require.InDelta(t, 200, line["status"], 0)
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	b := setup(t)

	b.do(t, http.MethodGet, "/healthz", nil)
	b.do(t, http.MethodGet, "/no/such/page/123", nil)
	res := b.do(t, http.MethodGet, "/metrics", nil)
	require.Equal(t, http.StatusOK, res.status)
	text := string(res.body)
	require.Contains(t, text, `http_requests_total{code="200",route="GET /healthz"} 1`)
	require.Contains(t, text, `http_requests_total{code="404",route="/"} 1`, "unknown paths share one label")
	require.Contains(t, text, `http_request_duration_seconds_bucket{route="GET /healthz"`)
	require.Contains(t, text, "go_goroutines")
	require.Contains(t, text, "process_")
	require.NotContains(t, text, "/no/such/page")
}

// With METRICS_TOKEN set, /metrics answers only to that bearer token, on
// the API and on a worker's metrics server alike; /healthz stays open.
func TestMetricsToken(t *testing.T) {
	t.Parallel()
	const token = "0123456789abcdef0123456789abcdef"
	api, err := httpapi.NewHandler(httpapi.Deps{
		Logger: logging.New(&testsvc.LogBuffer{}, slog.LevelDebug, logging.JSON), Version: "test", MetricsToken: token,
	})
	require.NoError(t, err)
	for name, h := range map[string]http.Handler{"api": api, "worker": httpapi.NewMetricsHandler(token)} {
		b := &testBundle{handler: h, logs: &testsvc.LogBuffer{}}
		for _, header := range []map[string]string{
			nil,
			{"Authorization": "Bearer wrong"},
			{"Authorization": "Bearer " + token + "x"},
			{"Authorization": token},
		} {
			res := b.do(t, http.MethodGet, "/metrics", header)
			require.Equal(t, http.StatusUnauthorized, res.status, "%s %v", name, header)
			require.Equal(t, `Bearer realm="metrics"`, res.header.Get("WWW-Authenticate"))
			require.Equal(t, "application/problem+json", res.header.Get("Content-Type"))
			require.NotContains(t, string(res.body), "go_goroutines")
		}
		res := b.do(t, http.MethodGet, "/metrics", map[string]string{"Authorization": "Bearer " + token})
		require.Equal(t, http.StatusOK, res.status, name)
		require.Contains(t, string(res.body), "go_goroutines")
		require.Equal(t, http.StatusOK, b.do(t, http.MethodGet, "/healthz", nil).status, name)
	}
}

func TestOpenAPIAndDocs(t *testing.T) {
	t.Parallel()
	b := setup(t)

	res := b.do(t, http.MethodGet, "/openapi.json", nil)
	require.Equal(t, http.StatusOK, res.status)
	var doc struct {
		OpenAPI string         `json:"openapi"`
		Paths   map[string]any `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(res.body, &doc))
	require.Equal(t, "3.1.0", doc.OpenAPI)
	require.Contains(t, doc.Paths, "/healthz")
	require.Contains(t, doc.Paths, "/readyz")

	res = b.do(t, http.MethodGet, "/docs", nil)
	require.Equal(t, http.StatusOK, res.status)
	require.Contains(t, string(res.body), "<html")
}

func TestUnknownRoutesAnswerProblems(t *testing.T) {
	t.Parallel()
	b := setup(t)

	res := b.do(t, http.MethodGet, "/nope", nil)
	require.Equal(t, http.StatusNotFound, res.status)
	require.Equal(t, "application/problem+json", res.header.Get("Content-Type"))
	require.JSONEq(t, `{"title":"Not Found","status":404,"detail":"No route matches /nope."}`, string(res.body))

	res = b.do(t, http.MethodPost, "/healthz", nil)
	require.Equal(t, http.StatusMethodNotAllowed, res.status)
	require.Equal(t, "GET, HEAD", res.header.Get("Allow"))
	require.Equal(t, "application/problem+json", res.header.Get("Content-Type"))
	require.Contains(t, string(res.body), `"status":405`)
}

// withoutSchema drops the "$schema" link huma adds to response bodies.
func withoutSchema(t *testing.T, body []byte) string {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(body, &m), string(body))
	delete(m, "$schema")
	out, err := json.Marshal(m)
	require.NoError(t, err)
	return string(out)
}

package httpapi_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"example.com/acme/internal/httpapi"
	"example.com/acme/internal/logging"
	"example.com/acme/internal/postgres"
	"example.com/acme/internal/testsvc"
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

// signUp serves one sign-up request with a JSON body, sent as it is: the
// operation's validation runs before its handler, so these tests need no
// identity behind it.
func (b *testBundle) signUp(t *testing.T, body string) response {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/v1/auth/signup", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
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
	require.JSONEq(t, `{"status":"ok"}`, string(res.body))
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
	require.JSONEq(t, `{"status":"ok","checks":{"database":"ok"}}`, string(res.body))
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
	require.JSONEq(t, `{"status":"unavailable","checks":{"database":"unavailable","other":"ok"}}`, string(res.body))
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

func TestOpenAPIDocument(t *testing.T) {
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
}

// The docs page works offline: it and everything it loads come from the
// app's own origin, which its Content-Security-Policy alone allows.
func TestDocsPageIsSelfContained(t *testing.T) {
	t.Parallel()
	b := setup(t)

	res := b.do(t, http.MethodGet, "/docs", nil)
	require.Equal(t, http.StatusOK, res.status)
	require.Equal(t, "text/html; charset=utf-8", res.header.Get("Content-Type"))
	csp := res.header.Get("Content-Security-Policy")
	require.Contains(t, csp, "default-src 'none'")
	require.Contains(t, csp, "script-src 'self' 'sha256-")
	require.NotContains(t, csp, "http")
	require.NotContains(t, csp, "*")

	page := string(res.body)
	require.NotContains(t, page, "http://")
	require.NotContains(t, page, "https://")
	require.NotContains(t, page, "//", "no protocol-relative URL")
	require.Equal(t, 1, strings.Count(page, `url: "/openapi.json"`), "one inline script starts the viewer on the document")
	types := map[string]string{}
	for _, m := range docsReference.FindAllStringSubmatch(page, -1) {
		u, err := url.Parse(m[3])
		require.NoError(t, err)
		require.Empty(t, u.Scheme, m[0])
		require.Empty(t, u.Host, m[0])
		types[u.Path] = map[string]string{"script": "text/javascript", "link": "text/css"}[m[1]]
	}
	require.Len(t, types, 2, "the viewer's script and style sheet: %s", page)
	var version string
	for p, want := range types {
		res := b.do(t, http.MethodGet, p, nil)
		require.Equal(t, http.StatusOK, res.status, p)
		require.Equal(t, want+"; charset=utf-8", res.header.Get("Content-Type"), p)
		require.Equal(t, "public, max-age=31536000, immutable", res.header.Get("Cache-Control"), p)
		require.NotEmpty(t, res.body, p)

		// Another version's URL is not this content.
		version = strings.Split(p, "/")[2]
		other := strings.Replace(p, version, version+"0", 1)
		require.Equal(t, http.StatusNotFound, b.do(t, http.MethodGet, other, nil).status, other)
	}
	// Only the assets are served, not the rest of the embedded files.
	for _, name := range []string{"manifest.json", "LICENSE", "..%2fmanifest.json"} {
		require.Equal(t, http.StatusNotFound, b.do(t, http.MethodGet, "/docs/"+version+"/"+name, nil).status, name)
	}
}

// docsReference matches the elements of a page that load a URL.
var docsReference = regexp.MustCompile(`<(script|link)\b[^>]*\b(src|href)="([^"]*)"`)

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

// A validation error says where and what is wrong, never what was sent:
// the value may be a password.
func TestValidationErrorsEchoNoValues(t *testing.T) {
	t.Parallel()
	b := setup(t)

	res := b.signUp(t, `{"email":"ada@example.com","password":"hunter2","name":"Ada"}`)
	require.Equal(t, http.StatusUnprocessableEntity, res.status, string(res.body))
	require.Contains(t, string(res.body), `"location":"body.password"`)
	require.NotContains(t, string(res.body), "hunter2")
	require.NotContains(t, string(res.body), `"value"`)
	require.NotContains(t, b.logs.String(), "hunter2")
}

// No response names the host a client claims to have called, in its body or
// its headers.
func TestResponsesDoNotReflectHost(t *testing.T) {
	t.Parallel()
	b := setup(t)

	for _, path := range []string{"/healthz", "/nope", "/openapi.json"} {
		for _, header := range []string{"Host", "X-Forwarded-Host"} {
			res := b.do(t, http.MethodGet, path, map[string]string{header: "evil.example"})
			require.NotContains(t, string(res.body), "evil.example", "%s with %s", path, header)
			for name, values := range res.header {
				require.NotContains(t, strings.Join(values, " "), "evil.example", "%s header of %s", name, path)
			}
		}
	}
	req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/v1/auth/login", strings.NewReader(`{}`))
	req.Host = "evil.example"
	rec := httptest.NewRecorder()
	b.handler.ServeHTTP(rec, req)
	require.Equal(t, http.StatusUnprocessableEntity, rec.Code)
	require.NotContains(t, rec.Body.String(), "evil.example")
	require.NotContains(t, rec.Body.String(), "$schema")
}

// A JSON body whose text no column can hold, invalid UTF-8 or a NUL in a
// string, is refused with 422 before any operation sees it.
func TestBodyTextMustBeStorable(t *testing.T) {
	t.Parallel()
	b := setup(t)

	for _, tt := range []struct {
		body   string
		detail string
	}{
		{`{"email":"ada@example.com","password":"a\u0000bcdefgh","name":"Ada"}`, "NUL"},
		{`{"email":"ada@example.com","password":"abcdefgh","name":"A\u0000"}`, "NUL"},
		{"{\"email\":\"ada@example.com\",\"password\":\"abcdefgh\",\"name\":\"A\xff\xfe\"}", "not valid UTF-8"},
		{`{"email":"ada@example.com","password":"abcdefgh","name":"A\ud800"}`, "unpaired surrogates"},
		{`{"email":"ada@example.com","password":"abcdefgh","name":"A\ud800\u0041"}`, "unpaired surrogates"},
		{`{"email":"ada@example.com","password":"abcdefgh","name":"A\udc00\ud800"}`, "unpaired surrogates"},
	} {
		res := b.signUp(t, tt.body)
		require.Equal(t, http.StatusUnprocessableEntity, res.status, string(res.body))
		require.Equal(t, "application/problem+json", res.header.Get("Content-Type"))
		require.Contains(t, string(res.body), tt.detail)
	}

	// An escaped backslash before u0000 or ud800 is text, and a surrogate
	// pair (an emoji) is one character: this body fails only for its empty
	// name. Malformed JSON is still the decoder's 400.
	res := b.signUp(t, `{"email":"ada@example.com","password":"a\\u0000\\ud800\ud83d\ude00\"","name":""}`)
	require.Equal(t, http.StatusUnprocessableEntity, res.status, string(res.body))
	require.Contains(t, string(res.body), "body.name")
	require.NotContains(t, string(res.body), "NUL")
	require.NotContains(t, string(res.body), "surrogate")
	res = b.signUp(t, `{"email":`)
	require.Equal(t, http.StatusBadRequest, res.status, string(res.body))
}

package httpapi

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/acme/shop-api/internal/domain"
	"github.com/acme/shop-api/internal/logging"
)

// RequestIDHeader carries the request id in both directions.
const RequestIDHeader = "X-Request-ID"

// RequestID returns the id of the request ctx belongs to, or "".
func RequestID(ctx context.Context) string {
	return domain.RequestIDFrom(ctx)
}

// requestID keeps a sane incoming X-Request-Id (so ids from a proxy or client
// tie logs together) or makes a new one, echoes it in the response, and puts
// it in the context for the logger.
func requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if !validRequestID(id) {
			id = rand.Text()
		}
		w.Header().Set(RequestIDHeader, id)
		ctx := domain.WithRequestID(r.Context(), id)
		ctx = logging.With(ctx, slog.String("request_id", id))
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// validRequestID accepts 1 to 128 characters that are safe in a log line and
// a header: letters, digits and - _ . :
func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range []byte(id) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '-' || c == '_' || c == '.' || c == ':'
		if !ok {
			return false
		}
	}
	return true
}

// requestInfo is what inner handlers learn about a request that its log
// line should show; observe puts an empty one in the context.
type requestInfo struct {
	tenant   string
	userID   string
	apiKeyID string
	addr     string // the client's IP address
}

type requestInfoKey struct{}

// noteTenant records the tenant a request was resolved to for its log line.
func noteTenant(ctx context.Context, slug string) {
	if info, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		info.tenant = slug
	}
}

// noteUser records who made a request for its log line.
func noteUser(ctx context.Context, p domain.Principal) {
	if info, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		info.userID = p.UserID
		if p.APIKey != nil {
			info.apiKeyID = p.APIKey.ID
		}
	}
}

// clientAddr returns the IP address of the client (see clientIP), which
// sign-in throttling counts attempts by.
func clientAddr(ctx context.Context) string {
	if info, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		return info.addr
	}
	return ""
}

// observe logs one line per request and records its metrics, labelled by the
// route pattern that matched (never the raw path, which is unbounded).
func observe(logger *slog.Logger, m *metrics, trustedProxies []netip.Prefix, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		info := &requestInfo{addr: clientIP(r, trustedProxies)}
		// The audit log records the client of every change.
		client := domain.Client{IP: info.addr, UserAgent: r.UserAgent()}
		routed := r.WithContext(domain.WithClient(context.WithValue(r.Context(), requestInfoKey{}, info), client))
		next.ServeHTTP(rec, routed)
		elapsed := time.Since(start)

		// ServeMux sets Pattern on the request it was given once it has routed it.
		route := routed.Pattern
		if route == "" {
			route = "unmatched"
		}
		status := rec.statusCode()
		m.observe(route, status, elapsed)

		level := slog.LevelInfo
		if status >= http.StatusInternalServerError {
			level = slog.LevelError
		}
		attrs := []slog.Attr{
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.String("route", route),
			slog.Int("status", status),
			slog.Int64("bytes", rec.bytes),
			slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
			slog.String("remote_addr", r.RemoteAddr),
		}
		if host, _, _ := net.SplitHostPort(r.RemoteAddr); host != info.addr {
			attrs = append(attrs, slog.String("client_ip", info.addr))
		}
		if info.tenant != "" {
			attrs = append(attrs, slog.String("tenant", info.tenant))
		}
		if info.userID != "" {
			attrs = append(attrs, slog.String("user_id", info.userID))
		}
		if info.apiKeyID != "" {
			attrs = append(attrs, slog.String("api_key_id", info.apiKeyID))
		}
		logger.LogAttrs(r.Context(), level, "http request", attrs...)
	})
}

// recoverPanics turns a panicking handler into a logged 500 instead of a
// dropped connection. http.ErrAbortHandler keeps its meaning: abort quietly.
func recoverPanics(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				onPanic(logger, w, r, v)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func onPanic(logger *slog.Logger, w http.ResponseWriter, r *http.Request, v any) {
	if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
		panic(v)
	}
	logger.ErrorContext(r.Context(), "panic serving request",
		slog.String("panic", fmt.Sprint(v)),
		slog.String("stack", string(debug.Stack())),
	)
	writeProblem(w, http.StatusInternalServerError, "An internal error occurred.")
}

// statusRecorder remembers the status and size of a response. Unwrap lets
// http.ResponseController reach the underlying writer (flush, hijack, deadlines).
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (s *statusRecorder) WriteHeader(status int) {
	if s.status == 0 {
		s.status = status
	}
	s.ResponseWriter.WriteHeader(status)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

func (s *statusRecorder) Unwrap() http.ResponseWriter {
	return s.ResponseWriter
}

func (s *statusRecorder) statusCode() int {
	if s.status == 0 {
		return http.StatusOK
	}
	return s.status
}

// clientIP returns the address of the client that sent r: the connection's
// peer, unless the peer is a trusted proxy. Then X-Forwarded-For, to which
// each proxy appends the address it heard from, is read from the right past
// every trusted proxy: the first address that is not one is the client.
// Addresses left of it are whatever the client chose to send, so they are
// never believed. An entry that is not an address ends the walk at the last
// trusted hop.
func clientIP(r *http.Request, trusted []netip.Prefix) string {
	peer := r.RemoteAddr
	if host, _, err := net.SplitHostPort(peer); err == nil {
		peer = host
	}
	addr, err := netip.ParseAddr(peer)
	if err != nil || !isTrustedProxy(addr.Unmap(), trusted) {
		return peer
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for _, hop := range slices.Backward(hops) {
		a, err := netip.ParseAddr(strings.TrimSpace(hop))
		if err != nil {
			break
		}
		addr = a.Unmap()
		if !isTrustedProxy(addr, trusted) {
			break
		}
	}
	return addr.String()
}

func isTrustedProxy(addr netip.Addr, trusted []netip.Prefix) bool {
	return slices.ContainsFunc(trusted, func(p netip.Prefix) bool { return p.Contains(addr) })
}

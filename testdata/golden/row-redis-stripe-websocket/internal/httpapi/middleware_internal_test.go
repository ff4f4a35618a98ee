package httpapi

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestClientIP(t *testing.T) {
	t.Parallel()
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}
	tests := []struct {
		name    string
		peer    string
		forward []string // X-Forwarded-For headers, in order
		trusted []netip.Prefix
		want    string
	}{
		{"no proxy trusted: the peer, whatever the header says", "203.0.113.9:4000", []string{"198.51.100.1"}, nil, "203.0.113.9"},
		{"an untrusted peer's header is ignored", "203.0.113.9:4000", []string{"198.51.100.1"}, proxies, "203.0.113.9"},
		{"behind one proxy", "10.1.2.3:4000", []string{"198.51.100.1"}, proxies, "198.51.100.1"},
		{"behind two proxies", "10.1.2.3:4000", []string{"198.51.100.1, 10.9.9.9"}, proxies, "198.51.100.1"},
		{"a forged left part is not believed", "10.1.2.3:4000", []string{"192.0.2.66, 198.51.100.1"}, proxies, "198.51.100.1"},
		{"several headers read as one list", "10.1.2.3:4000", []string{"192.0.2.66", "198.51.100.1"}, proxies, "198.51.100.1"},
		{"a trusted peer without the header", "10.1.2.3:4000", nil, proxies, "10.1.2.3"},
		{"only proxies: the leftmost", "10.1.2.3:4000", []string{"10.7.7.7, 10.8.8.8"}, proxies, "10.7.7.7"},
		{"garbage stops the walk at the last trusted hop", "10.1.2.3:4000", []string{"198.51.100.1, not-an-ip"}, proxies, "10.1.2.3"},
		{"IPv6 proxy", "[2001:db8::1]:4000", []string{"2001:db8:ffff::5, 2001:db8::2"}, proxies, "2001:db8:ffff::5"},
		{"IPv4-mapped peer", "[::ffff:10.1.2.3]:4000", []string{"198.51.100.1"}, proxies, "198.51.100.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/", nil)
			r.RemoteAddr = tt.peer
			for _, h := range tt.forward {
				r.Header.Add("X-Forwarded-For", h)
			}
			require.Equal(t, tt.want, clientIP(r, tt.trusted))
		})
	}
}

// TestObserveRecordsTheClientBehindAProxy: what sign-in throttling counts
// by is the client clientIP finds, with the proxies the server was given.
func TestObserveRecordsTheClientBehindAProxy(t *testing.T) {
	t.Parallel()
	var got string
	h := observe(slog.New(slog.DiscardHandler), newMetrics(), []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = clientAddr(r.Context()) }))
	r := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/v1/auth/login", nil)
	r.RemoteAddr = "10.1.2.3:4000"
	r.Header.Set("X-Forwarded-For", "198.51.100.1")
	h.ServeHTTP(httptest.NewRecorder(), r)
	require.Equal(t, "198.51.100.1", got)
}

// Package httpapi is the HTTP adapter: a typed API (huma) over the standard
// library's ServeMux that publishes an OpenAPI 3.1 document, answers errors as
// RFC 9457 problem+json, and wraps every request in request-id, logging,
// metrics and panic-recovery middleware.
package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/prometheus/client_golang/prometheus"
)

// Deps are the handler's dependencies.
type Deps struct {
	// Logger receives one line per request and every error worth a look.
	Logger *slog.Logger
	// Version is the API version published in the OpenAPI document.
	Version string
	// Checks are run by /readyz; each names a dependency the API needs.
	Checks []Check
	// BaseDomain is the domain whose subdomains name tenants (BASE_DOMAIN).
	BaseDomain string
	// Tenants is the tenant registry and the only way to tenant data.
	Tenants Tenants
	// Identity knows who callers are and what they may do.
	Identity Identity
	// Audit reads the tenants' audit logs.
	Audit AuditLog
	// Collectors are further metrics /metrics serves, such as the job
	// queue's.
	Collectors []prometheus.Collector
	// TrustedProxies are the proxies whose X-Forwarded-For names the client
	// (TRUSTED_PROXIES); none by default.
	TrustedProxies []netip.Prefix
	// MetricsToken, when set, is the bearer token /metrics requires
	// (METRICS_TOKEN).
	MetricsToken string
	// RateLimits bound how fast clients, users and tenants may call the
	// API (RATE_LIMIT_*); the zero value sets none.
	RateLimits RateLimits
	// Realtime serves GET /v1/events/ws and announces revocations.
	Realtime Realtime
	// Billing is subscription billing: plans, entitlements, checkout and
	// the Stripe webhook intake.
	Billing Billing
}

// NewHandler returns the application's HTTP handler. It fails when an
// operation does not declare who may call it: such a server must not start.
func NewHandler(deps Deps) (http.Handler, error) {
	return newHandler(deps, addRoutes)
}

// Document returns the OpenAPI document the handler deps would make
// serves at /openapi.json. It needs no services: only Version and
// BaseDomain of deps show in it.
func Document(deps Deps) (*huma.OpenAPI, error) {
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	api, _, _, err := newAPI(deps, addRoutes)
	if err != nil {
		return nil, err
	}
	return api.OpenAPI(), nil
}

// newHandler builds the handler with the routes that add registers.
func newHandler(deps Deps, add func(*router, *metrics)) (http.Handler, error) {
	_, mux, m, err := newAPI(deps, add)
	if err != nil {
		return nil, err
	}
	// Outermost first: the request id exists before anything logs, and the
	// panic handler sits inside the logger so a recovered panic is logged
	// and counted as the 500 it became.
	var h http.Handler = mux
	h = limitClients(newBuckets(deps.RateLimits.IP), h)
	h = recoverPanics(deps.Logger, h)
	h = observe(deps.Logger, m, deps.TrustedProxies, h)
	h = requestID(h)
	return h, nil
}

// newAPI builds the API with the routes that add registers, and its
// document.
func newAPI(deps Deps, add func(*router, *metrics)) (huma.API, *routeMux, *metrics, error) {
	mux := newRouteMux()
	config := huma.DefaultConfig("shop-api API", deps.Version)
	config.Info.Description = "The shop-api API. Errors are RFC 9457 problem+json documents. " +
		"Tenant-scoped operations take the tenant from the request's subdomain of the base domain " +
		"(acme." + deps.BaseDomain + ") or from the " + TenantHeader + " header. " +
		"Callers authenticate with a bearer token: a user's session token (POST /v1/auth/login) " +
		"or, on tenant-scoped operations, an API key of that tenant. Each operation's x-permission says what it requires."
	config.Components.SecuritySchemes = securitySchemes()
	// huma's default hook adds a "$schema" link to every response body and
	// a Link header, both built from the request's Host (or
	// X-Forwarded-Host) header: any client could make responses name a host
	// of its choosing, and a cache could serve that to others. The OpenAPI
	// document at /openapi.json describes every body; no response needs to
	// point to it.
	config.CreateHooks = nil
	config.Formats = map[string]huma.Format{"application/json": textJSON, "json": textJSON}
	// huma's docs page loads its viewer from a CDN; the app serves its own
	// (docs.go).
	config.DocsPath = ""
	api := humago.New(mux, config)
	m := newMetrics(deps.Collectors...)

	r := newRouter(api, mux, deps)
	add(r, m)
	completeDocument(r)
	if err := r.check(); err != nil {
		return nil, nil, nil, fmt.Errorf("httpapi: %w", err)
	}
	return api, mux, m, nil
}

// NewMetricsHandler returns the handler of a process that serves no API,
// such as the worker: GET /metrics (the process's metrics and collectors;
// behind token when it is not empty) and GET /healthz.
func NewMetricsHandler(token string, collectors ...prometheus.Collector) http.Handler {
	mux := newRouteMux()
	mux.Handle("GET /metrics", requireBearer(token, newMetrics(collectors...).handler()))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	return mux
}

// Request bodies must be text Postgres can store as it was sent.
// encoding/json replaces invalid UTF-8, and escapes of unpaired UTF-16
// surrogates ("\ud800"), with U+FFFD, which would be stored as if the
// client had sent it, and decodes "\u0000" into a NUL that
// Postgres refuses in text, failing the request with 500 deep in a handler.
// Both are the client's to fix, so every JSON body is checked once, before
// any operation sees it, and refused with 422 (see huma.NewError in
// errors.go).
var (
	errInvalidUTF8 = errors.New("the request body is not valid UTF-8")
	errNUL         = errors.New(`strings in the request body must not contain NUL characters (\u0000)`)
	errSurrogate   = errors.New(`strings in the request body must not contain unpaired surrogates (\ud800 to \udfff)`)
)

// textJSON is huma's JSON format with request bodies checked for text no
// column can hold.
var textJSON = huma.Format{
	Marshal: huma.DefaultJSONFormat.Marshal,
	Unmarshal: func(data []byte, v any) error {
		if err := checkText(data); err != nil {
			return err
		}
		return huma.DefaultJSONFormat.Unmarshal(data, v)
	},
}

// checkText returns errInvalidUTF8, errSurrogate or errNUL when data, a
// JSON document, is not valid UTF-8, escapes an unpaired surrogate or has a
// string holding NUL. Malformed JSON is left to the decoder to report.
func checkText(data []byte) error {
	if !utf8.Valid(data) {
		return errInvalidUTF8
	}
	if err := checkSurrogates(data); err != nil {
		return err
	}
	// JSON can only spell NUL as this escape; most bodies never do.
	if !bytes.Contains(data, []byte(`\u0000`)) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	for tok, err := dec.Token(); err == nil; tok, err = dec.Token() {
		if s, ok := tok.(string); ok && strings.ContainsRune(s, 0) {
			return errNUL
		}
	}
	return nil
}

// checkSurrogates returns errSurrogate when data escapes a UTF-16 surrogate
// that is not half of a pair. In JSON a backslash occurs only in strings,
// so every one starts an escape.
func checkSurrogates(data []byte) error {
	for i := bytes.IndexByte(data, '\\'); i >= 0 && i+1 < len(data); {
		skip := 2
		if data[i+1] == 'u' {
			r, ok := escapedRune(data[i:])
			if !ok {
				return nil // malformed: the decoder says so
			}
			skip = 6
			if utf16.IsSurrogate(r) {
				low, ok := escapedRune(data[i+6:])
				if r >= 0xDC00 || !ok || utf16.DecodeRune(r, low) == utf8.RuneError {
					return errSurrogate
				}
				skip = 12
			}
		}
		next := bytes.IndexByte(data[i+skip:], '\\')
		if next < 0 {
			break
		}
		i += skip + next
	}
	return nil
}

// escapedRune decodes the \uXXXX escape data starts with.
func escapedRune(data []byte) (rune, bool) {
	if len(data) < 6 || data[0] != '\\' || data[1] != 'u' {
		return 0, false
	}
	n, err := strconv.ParseUint(string(data[2:6]), 16, 16)
	return rune(n), err == nil
}

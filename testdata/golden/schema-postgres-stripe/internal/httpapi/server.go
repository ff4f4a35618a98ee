// Package httpapi is the HTTP adapter: a typed API (huma) over the standard
// library's ServeMux that publishes an OpenAPI 3.1 document, answers errors as
// RFC 9457 problem+json, and wraps every request in request-id, logging,
// metrics and panic-recovery middleware.
package httpapi

import (
	"log/slog"
	"net/http"

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
	// Collectors are further metrics /metrics serves, such as the job
	// queue's.
	Collectors []prometheus.Collector
}

// NewHandler returns the application's HTTP handler.
func NewHandler(deps Deps) http.Handler {
	mux := http.NewServeMux()
	config := huma.DefaultConfig("acme API", deps.Version)
	config.Info.Description = "The acme API. Errors are RFC 9457 problem+json documents."
	api := humago.New(mux, config)
	m := newMetrics(deps.Collectors...)

	addRoutes(mux, api, deps, m)

	// Outermost first: the request id exists before anything logs, and the
	// panic handler sits inside the logger so a recovered panic is logged
	// and counted as the 500 it became.
	var h http.Handler = mux
	h = recoverPanics(deps.Logger, h)
	h = observe(deps.Logger, m, h)
	h = requestID(h)
	return h
}

// NewMetricsHandler returns the handler of a process that serves no API,
// such as the worker: GET /metrics (the process's metrics and collectors)
// and GET /healthz.
func NewMetricsHandler(collectors ...prometheus.Collector) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", newMetrics(collectors...).handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	return mux
}

package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"testing"

	"github.com/danielgtaylor/huma/v2"
	"github.com/stretchr/testify/require"

	"example.com/acme/internal/domain"
)

func noop(context.Context, *struct{}) (*struct{}, error) { return nil, nil }

// x is an operation to register in the tests of registration.
var x = newEndpoint(huma.Operation{OperationID: "x"}, noop)

// A route without a declared permission is not registered and the server
// refuses to start; so is one registered with huma directly.
func TestUndeclaredRoutesStopTheServer(t *testing.T) {
	t.Parallel()
	deps := Deps{Logger: slog.New(slog.DiscardHandler)}
	for name, tc := range map[string]struct {
		add  func(*router, *metrics)
		want string
	}{
		"no guard": {func(r *router, _ *metrics) {
			r.get("/v1/x", nil, x)
		}, "GET /v1/x declares no known permission"},
		"unknown permission": {func(r *router, _ *metrics) {
			r.get("/v1/x", requires("no_such_resource:read"), x)
		}, "GET /v1/x declares no known permission"},
		"around handle": {func(r *router, _ *metrics) {
			huma.Register(r.api, huma.Operation{OperationID: "x", Method: http.MethodPost, Path: "/v1/x"}, noop)
		}, "POST /v1/x was registered without a permission"},
		"object grants without a finder": {func(r *router, _ *metrics) {
			r.get("/v1/x/{id}", requiresOn(domain.ProjectsRead, "id"), x)
		}, "need a way to look up projects"},
		"straight on the mux": {func(r *router, _ *metrics) {
			r.mux.Handle("GET /debug", http.NotFoundHandler())
		}, "GET /debug is served without a declaration"},
		"straight on the mux, by huma": {func(r *router, _ *metrics) {
			r.api.Adapter().Handle(&huma.Operation{Method: http.MethodGet, Path: "/raw"}, func(huma.Context) {})
		}, "GET /raw is served without a declaration"},
		"mounted without a guard": {func(r *router, _ *metrics) {
			r.mount("GET /v1/raw", nil, http.NotFoundHandler())
		}, "GET /v1/raw declares nobody who may call it"},
		"mounted for an unknown permission": {func(r *router, _ *metrics) {
			r.mount("GET /v1/raw", requires("no_such_resource:read"), http.NotFoundHandler())
		}, "GET /v1/raw declares no known permission"},
		"served by huma for a tenant": {func(r *router, _ *metrics) {
			r.servedByHuma("GET /docs", requires(domain.ProjectsRead))
		}, "GET /docs declares projects:read, which a route huma serves itself cannot enforce"},
		"declared, not served": {func(r *router, _ *metrics) {
			r.servedByHuma("GET /openapi.toml", anyone())
		}, "GET /openapi.toml is declared but nothing serves it"},
		"object grants on a missing parameter": {func(r *router, _ *metrics) {
			r.get("/v1/x", requiresOn(domain.ProjectsRead, "id"), x)
		}, `path parameter "id"`},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h, err := newHandler(deps, tc.add)
			require.ErrorContains(t, err, tc.want)
			require.Nil(t, h)
		})
	}
	h, err := NewHandler(deps)
	require.NoError(t, err, "the app's own routes all declare theirs")
	require.NotNil(t, h)
}

func TestBearerToken(t *testing.T) {
	t.Parallel()
	for header, want := range map[string]string{
		"Bearer st_ABC":      "st_ABC",
		"bearer st_ABC":      "st_ABC",
		"Bearer  st_ABC ":    "st_ABC",
		"Basic dXNlcjpwdw==": "",
		"Bearer":             "",
		"Bearer ":            "",
		"Bearer a b":         "",
		"Bearer st_\x00":     "",
		"st_ABC":             "",
	} {
		got, ok := bearerToken(header)
		require.Equal(t, want, got, header)
		require.Equal(t, want != "", ok, header)
	}
}

package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"testing"

	"github.com/danielgtaylor/huma/v2"
	"github.com/stretchr/testify/require"

	"github.com/acme/shop/internal/domain"
)

func noop(context.Context, *struct{}) (*struct{}, error) { return nil, nil }

// A route without a declared permission is not registered and the server
// refuses to start; so is one registered with huma directly.
func TestUndeclaredRoutesStopTheServer(t *testing.T) {
	t.Parallel()
	deps := Deps{Logger: slog.New(slog.DiscardHandler)}
	for name, tc := range map[string]struct {
		add  func(*http.ServeMux, *router, *metrics)
		want string
	}{
		"no policy": {func(_ *http.ServeMux, r *router, _ *metrics) {
			handle(r, huma.Operation{OperationID: "x", Method: http.MethodGet, Path: "/v1/x"}, policy{}, noop)
		}, "GET /v1/x declares no known permission"},
		"unknown permission": {func(_ *http.ServeMux, r *router, _ *metrics) {
			handle(r, huma.Operation{OperationID: "x", Method: http.MethodGet, Path: "/v1/x"}, requires("invoices:read"), noop)
		}, "GET /v1/x declares no known permission"},
		"around handle": {func(_ *http.ServeMux, r *router, _ *metrics) {
			huma.Register(r.api, huma.Operation{OperationID: "x", Method: http.MethodPost, Path: "/v1/x"}, noop)
		}, "POST /v1/x was registered without a permission"},
		"object grants without a finder": {func(_ *http.ServeMux, r *router, _ *metrics) {
			handle(r, huma.Operation{OperationID: "x", Method: http.MethodGet, Path: "/v1/x/{id}"}, requiresOn(domain.ProjectsRead, "id"), noop)
		}, "need a way to look up projects"},
		"object grants on a missing parameter": {func(_ *http.ServeMux, r *router, _ *metrics) {
			handle(r, huma.Operation{OperationID: "x", Method: http.MethodGet, Path: "/v1/x"}, requiresOn(domain.ProjectsRead, "id"), noop)
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

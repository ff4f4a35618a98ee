package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/stretchr/testify/require"

	"example.com/acme/internal/domain"
	"example.com/acme/internal/logging"
	"example.com/acme/internal/testsvc"
)

// failing serves one operation that returns err, through register.
func failing(t *testing.T, err error) (*httptest.ResponseRecorder, *testsvc.LogBuffer) {
	t.Helper()
	logs := &testsvc.LogBuffer{}
	logger := logging.New(logs, slog.LevelDebug, logging.JSON)
	mux := http.NewServeMux()
	api := humago.New(mux, huma.DefaultConfig("test", "test"))
	register(api, logger, huma.Operation{OperationID: "fail", Method: http.MethodGet, Path: "/fail"},
		func(context.Context, *struct{}) (*struct{}, error) { return nil, err })

	rec := httptest.NewRecorder()
	requestID(mux).ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/fail", nil))
	return rec, logs
}

func TestDomainErrorsMapThroughTheStatusTable(t *testing.T) {
	t.Parallel()

	tests := []struct {
		code   domain.Code
		status int
	}{
		{domain.ECONFLICT, http.StatusConflict},
		{domain.EFORBIDDEN, http.StatusForbidden},
		{domain.EINVALID, http.StatusUnprocessableEntity},
		{domain.ENOTFOUND, http.StatusNotFound},
		{domain.EUNAUTHORIZED, http.StatusUnauthorized},
		{domain.EUNAVAILABLE, http.StatusServiceUnavailable},
		{domain.ETHROTTLED, http.StatusTooManyRequests},
	}
	require.Len(t, statusOf, len(tests)+1, "every code in the table is tested (EINTERNAL below)")
	for _, tt := range tests {
		t.Run(string(tt.code), func(t *testing.T) {
			t.Parallel()

			err := fmt.Errorf("wrapped: %w", domain.Errorf(tt.code, "the %s message", tt.code))
			rec, _ := failing(t, err)
			require.Equal(t, tt.status, rec.Code)
			require.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
			var p huma.ErrorModel
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p))
			require.Equal(t, tt.status, p.Status)
			require.Equal(t, http.StatusText(tt.status), p.Title)
			require.Equal(t, "the "+string(tt.code)+" message", p.Detail)
		})
	}
}

func TestInternalErrorsAreLoggedNotShown(t *testing.T) {
	t.Parallel()

	for _, err := range []error{
		errors.New("pq: password authentication failed for user secret-user"),
		domain.Errorf(domain.EINTERNAL, "secret-user pool exhausted"),
	} {
		rec, logs := failing(t, err)
		require.Equal(t, http.StatusInternalServerError, rec.Code)
		require.NotContains(t, rec.Body.String(), "secret-user")
		require.Contains(t, rec.Body.String(), "An internal error occurred.")
		require.Contains(t, logs.String(), "secret-user", "the cause is logged")
		require.Contains(t, logs.String(), rec.Header().Get(RequestIDHeader), "with the request id")
	}
}

func TestHumaStatusErrorsPassThrough(t *testing.T) {
	t.Parallel()

	rec, _ := failing(t, huma.Error422UnprocessableEntity("nope"))
	require.Equal(t, http.StatusUnprocessableEntity, rec.Code)
}

func TestPanicsBecomeLogged500s(t *testing.T) {
	t.Parallel()

	logs := &testsvc.LogBuffer{}
	logger := logging.New(logs, slog.LevelDebug, logging.JSON)
	boom := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") })
	h := requestID(observe(logger, newMetrics(), nil, recoverPanics(logger, boom)))

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/", nil))
	require.Equal(t, http.StatusInternalServerError, rec.Code)
	require.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
	require.NotContains(t, rec.Body.String(), "boom")
	require.Contains(t, logs.String(), `"panic":"boom"`)
	require.Contains(t, logs.String(), `"status":500`, "the request line records the 500")
}

func TestAbortHandlerPanicsPropagate(t *testing.T) {
	t.Parallel()

	abort := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) })
	h := recoverPanics(slog.New(slog.DiscardHandler), abort)
	require.PanicsWithValue(t, http.ErrAbortHandler, func() {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/", nil))
	})
}

func TestThrottledErrorsSayWhenToRetry(t *testing.T) {
	t.Parallel()
	rec, _ := failing(t, domain.Throttled(1500*time.Millisecond, "Too many attempts."))
	require.Equal(t, http.StatusTooManyRequests, rec.Code)
	require.Equal(t, "2", rec.Header().Get("Retry-After"), "whole seconds, rounded up")
}

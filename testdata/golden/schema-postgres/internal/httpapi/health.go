package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
)

// Check is one readiness check: a dependency the API cannot serve without.
type Check struct {
	Name string
	Ping func(context.Context) error
}

// checkTimeout bounds each readiness check, so a hung dependency makes
// /readyz answer 503 rather than hang the prober.
const checkTimeout = 2 * time.Second

type healthzOutput struct {
	Body struct {
		Status string `json:"status" example:"ok" doc:"Always ok: the process answers"`
	}
}

func handleHealthz() endpoint {
	return newEndpoint(huma.Operation{
		OperationID: "healthz",
		Summary:     "Liveness: the process is up",
		Tags:        []string{"Operations"},
	}, func(context.Context, *struct{}) (*healthzOutput, error) {
		out := &healthzOutput{}
		out.Body.Status = "ok"
		return out, nil
	})
}

type readyzOutput struct {
	Status int
	Body   struct {
		Status string            `json:"status" enum:"ok,unavailable" doc:"ok when every check passed"`
		Checks map[string]string `json:"checks" doc:"Each dependency's status: ok or unavailable"`
	}
}

// handleReadyz runs every check concurrently. Failures are logged with their
// cause; the response only says which dependency is unavailable.
func handleReadyz(logger *slog.Logger, checks []Check) endpoint {
	return newEndpoint(huma.Operation{
		OperationID: "readyz",
		Summary:     "Readiness: the database and broker are reachable",
		Tags:        []string{"Operations"},
		Responses:   map[string]*huma.Response{"503": {Description: "A dependency is unreachable"}},
	}, func(ctx context.Context, _ *struct{}) (*readyzOutput, error) {
		results := make([]error, len(checks))
		var wg sync.WaitGroup
		for i, c := range checks {
			wg.Go(func() {
				checkCtx, cancel := context.WithTimeout(ctx, checkTimeout)
				defer cancel()
				results[i] = c.Ping(checkCtx)
			})
		}
		wg.Wait()

		out := &readyzOutput{Status: http.StatusOK}
		out.Body.Status = "ok"
		out.Body.Checks = make(map[string]string, len(checks))
		for i, c := range checks {
			if err := results[i]; err != nil {
				logger.WarnContext(ctx, "readiness check failed", slog.String("check", c.Name), slog.Any("error", err))
				out.Status = http.StatusServiceUnavailable
				out.Body.Status = "unavailable"
				out.Body.Checks[c.Name] = "unavailable"
				continue
			}
			out.Body.Checks[c.Name] = "ok"
		}
		return out, nil
	})
}

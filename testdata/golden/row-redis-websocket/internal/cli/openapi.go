package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"

	"github.com/acme/shop-api/internal/httpapi"
)

// runOpenAPI writes the API's OpenAPI 3.1 document (JSON, or YAML with
// -yaml) to standard output: the document the server serves at
// /openapi.json, built without a database or any other service, for client
// generators and validators. BASE_DOMAIN, when set, is the domain its
// description names.
func runOpenAPI(ctx context.Context, e env, args []string) error {
	fs := newFlagSet(e, "openapi")
	asYAML := fs.Bool("yaml", false, "write YAML instead of JSON")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	baseDomain := e.getenv("BASE_DOMAIN")
	if baseDomain == "" {
		baseDomain = "localhost"
	}
	handler, err := httpapi.NewHandler(httpapi.Deps{
		Logger:     slog.New(slog.DiscardHandler),
		Version:    version(),
		BaseDomain: baseDomain,
	})
	if err != nil {
		return fmt.Errorf("openapi: %w", err)
	}
	path := "/openapi.json"
	if *asYAML {
		path = "/openapi.yaml"
	}
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, httptest.NewRequestWithContext(ctx, http.MethodGet, path, http.NoBody))
	if rec.Code != http.StatusOK {
		return fmt.Errorf("openapi: %s answered %d", path, rec.Code)
	}
	_, err = io.Copy(e.stdout, rec.Body)
	return err
}

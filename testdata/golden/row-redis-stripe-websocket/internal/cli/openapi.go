package cli

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/acme/shop-api/internal/httpapi"
)

// runOpenAPI writes the OpenAPI 3.1 document GET /openapi.json serves, with
// no server, database or settings (BASE_DOMAIN, which its description
// names, aside): for client generators and linters in CI.
func runOpenAPI(_ context.Context, e env, args []string) error {
	fs := newFlagSet(e, "openapi")
	asYAML := fs.Bool("yaml", false, "write YAML instead of JSON")
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	baseDomain := e.getenv("BASE_DOMAIN")
	if baseDomain == "" {
		baseDomain = "localhost"
	}
	doc, err := httpapi.Document(httpapi.Deps{Version: version(), BaseDomain: baseDomain})
	if err != nil {
		return err
	}
	var out []byte
	if *asYAML {
		out, err = doc.YAML()
	} else {
		out, err = json.MarshalIndent(doc, "", "  ")
	}
	if err != nil {
		return fmt.Errorf("openapi: %w", err)
	}
	_, err = fmt.Fprintf(e.stdout, "%s\n", out)
	return err
}

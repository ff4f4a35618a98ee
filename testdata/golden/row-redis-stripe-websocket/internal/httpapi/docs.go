package httpapi

import (
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"html"
	"net/http"
	"path"
	"strings"
)

// The docs page's viewer is Swagger UI, vendored unchanged from the npm
// package recorded in docsui/manifest.json and embedded in the binary, so
// GET /docs renders without reaching any other origin.
//
//go:embed docsui/manifest.json docsui/swagger-ui
var docsUI embed.FS

// docsViewer is the vendored viewer: its version (part of the assets' URLs,
// so they can be cached for good) and the content of each asset.
type docsViewer struct {
	version string
	assets  map[string][]byte
}

// docsAssetTypes are the assets the page loads, with their content types.
var docsAssetTypes = map[string]string{
	"swagger-ui-bundle.js": "text/javascript; charset=utf-8",
	"swagger-ui.css":       "text/css; charset=utf-8",
}

func loadDocsViewer() docsViewer {
	manifest, err := docsUI.ReadFile("docsui/manifest.json")
	if err != nil {
		panic(err) // embedded: cannot fail
	}
	var m struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(manifest, &m); err != nil || m.Version == "" {
		panic("httpapi: docsui/manifest.json names no version")
	}
	v := docsViewer{version: m.Version, assets: map[string][]byte{}}
	for name := range docsAssetTypes {
		b, err := docsUI.ReadFile(path.Join("docsui/swagger-ui", name))
		if err != nil {
			panic(err)
		}
		v.assets[name] = b
	}
	return v
}

// docsScript starts the viewer on the OpenAPI document. It runs inline,
// allowed by its hash in the page's Content-Security-Policy. The validator
// badge is off: it would send the document to validator.swagger.io.
const docsScript = `window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#docs", validatorUrl: null, deepLinking: true});`

// handleDocs serves the docs page. Its Content-Security-Policy allows the
// app's own origin only, plus the inline script above (by hash) and inline
// styles, which the viewer sets on its elements.
func handleDocs(title string, v docsViewer) http.Handler {
	sum := sha256.Sum256([]byte(docsScript))
	csp := strings.Join([]string{
		"default-src 'none'",
		"script-src 'self' 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'",
		"style-src 'self' 'unsafe-inline'",
		"img-src 'self' data:",
		"connect-src 'self'",
		"font-src 'self'",
		"base-uri 'none'",
		"form-action 'none'",
		"frame-ancestors 'none'",
	}, "; ")
	base := "/docs/" + v.version
	body := []byte(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>` + html.EscapeString(title) + `</title>
<link rel="stylesheet" href="` + base + `/swagger-ui.css">
</head>
<body>
<div id="docs"></div>
<script src="` + base + `/swagger-ui-bundle.js"></script>
<script>` + docsScript + `</script>
</body>
</html>
`)
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-cache")
		_, _ = w.Write(body)
	})
}

// handleDocsAsset serves the viewer's assets under /docs/{version}/: a
// version in the URL never changes content, so they are cached for a year.
func handleDocsAsset(v docsViewer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("asset")
		body, ok := v.assets[name]
		if r.PathValue("version") != v.version || !ok {
			writeProblem(w, http.StatusNotFound, "No route matches "+r.URL.Path+".")
			return
		}
		h := w.Header()
		h.Set("Content-Type", docsAssetTypes[name])
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
		h.Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(body)
	})
}

package kit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"path"
	"testing"

	"github.com/saaskit/saaskit/templates"
)

// docsViewerDir holds the generated app's vendored docs viewer: files of an
// npm package, unchanged, with the manifest that names them.
const docsViewerDir = "app/internal/httpapi/docsui"

// The vendored viewer is byte for byte the package's files the manifest
// records (scripts/update-docs-viewer.sh writes both), and nothing else.
func TestDocsViewerMatchesManifest(t *testing.T) {
	raw, err := fs.ReadFile(templates.FS, path.Join(docsViewerDir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Name      string            `json:"name"`
		Version   string            `json:"version"`
		Integrity string            `json:"integrity"`
		Files     map[string]string `json:"files"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if m.Name != "swagger-ui-dist" || m.Version == "" || len(m.Integrity) < len("sha512-") || m.Integrity[:7] != "sha512-" {
		t.Fatalf("manifest names %s@%s with integrity %q: want swagger-ui-dist, a version and a sha512 integrity", m.Name, m.Version, m.Integrity)
	}
	if _, ok := m.Files["LICENSE"]; !ok {
		t.Error("the manifest records no LICENSE: the viewer ships with its license")
	}
	dir := path.Join(docsViewerDir, "swagger-ui")
	entries, err := fs.ReadDir(templates.FS, dir)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range entries {
		seen[e.Name()] = true
		want, ok := m.Files[e.Name()]
		if !ok {
			t.Errorf("%s/%s is not in the manifest", dir, e.Name())
			continue
		}
		b, err := fs.ReadFile(templates.FS, path.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if got := hex.EncodeToString(sum[:]); got != want {
			t.Errorf("%s/%s: sha256 %s, the manifest records %s: the vendored file was changed", dir, e.Name(), got, want)
		}
	}
	for name := range m.Files {
		if !seen[name] {
			t.Errorf("the manifest records %s, missing from %s", name, dir)
		}
	}
}

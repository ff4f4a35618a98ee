package testenv

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

// ServeModule adds version of the module path, made from the files in src
// (its go.mod included), to the file-based module proxy rooted at proxyDir,
// and returns the proxy's GOPROXY URL. Tests use it to fetch modules the
// way the go command does, without a network.
func ServeModule(proxyDir, path, version, src string) (string, error) {
	vdir := filepath.Join(proxyDir, filepath.FromSlash(path), "@v")
	if err := os.MkdirAll(vdir, 0o755); err != nil {
		return "", err
	}
	var zip bytes.Buffer
	if err := modzip.CreateFromDir(&zip, module.Version{Path: path, Version: version}, src); err != nil {
		return "", fmt.Errorf("zip %s@%s: %w", path, version, err)
	}
	gomod, err := os.ReadFile(filepath.Join(src, "go.mod"))
	if err != nil {
		return "", err
	}
	for name, content := range map[string][]byte{
		"list":            []byte(version + "\n"),
		version + ".info": fmt.Appendf(nil, `{"Version":%q,"Time":"2026-01-01T00:00:00Z"}`, version),
		version + ".mod":  gomod,
		version + ".zip":  zip.Bytes(),
	} {
		if err := os.WriteFile(filepath.Join(vdir, name), content, 0o644); err != nil {
			return "", err
		}
	}
	return "file://" + filepath.ToSlash(proxyDir), nil
}

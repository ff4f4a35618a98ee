package main

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/rogpeppe/go-internal/testscript"

	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

// The upgrade scripts need an older saaskit, fetched the way `saaskit
// upgrade` fetches one: through the Go module proxy. oldKit builds it once
// per test run from this source tree with the edits below, publishes it as
// OldKitVersion in a file-based GOPROXY, and installs its binary as
// saaskit-old.
const OldKitVersion = "v0.0.1"

// oldKitEdits turn the current templates into the older kit's. Each kit
// change they imply is one an upgrade scenario exercises.
var oldKitEdits = []struct {
	path   string
	append string // appended to the file; the file is created if missing
	remove bool
}{
	// A line the new kit removes from the README (the scripts merge and
	// conflict with it).
	{path: "templates/app/README.md.tmpl", append: "\nThis line is only in the old kit.\n"},
	// A change to an applied migration, which an upgrade must not apply.
	{path: "templates/app/internal/postgres/migrations/00001_control_plane.sql", append: "-- Only in the old kit.\n"},
	// A query the new kit drops: sqlc output must be regenerated without it.
	{path: "templates/app/internal/postgres/db/tenants.sql", append: "\n-- name: CountTenantsOld :one\nSELECT count(*) FROM tenants;\n"},
	// Files the new kit no longer renders.
	{path: "templates/app/docs/old-notes.md", append: "# Notes\n\nOnly the old kit renders this file.\n"},
	{path: "templates/app/docs/old-guide.md", append: "# Guide\n\nOnly the old kit renders this file.\n"},
	// A file only the new kit renders.
	{path: "templates/app/.dockerignore", remove: true},
}

var (
	oldKitOnce sync.Once
	oldKitDir  string
	oldKitErr  error
)

// oldKit returns the directory holding proxy/ (the GOPROXY) and bin/ (with
// saaskit-old).
func oldKit() (string, error) {
	oldKitOnce.Do(func() {
		oldKitDir, oldKitErr = buildOldKit()
	})
	return oldKitDir, oldKitErr
}

func buildOldKit() (string, error) {
	dir, err := os.MkdirTemp("", "saaskit-oldkit-*")
	if err != nil {
		return "", err
	}
	src := filepath.Join(dir, "src")
	if err := copyKitSource(filepath.Join("..", ".."), src); err != nil {
		return "", err
	}
	for _, e := range oldKitEdits {
		p := filepath.Join(src, filepath.FromSlash(e.path))
		if e.remove {
			if err := os.Remove(p); err != nil {
				return "", fmt.Errorf("old kit: %w", err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", err
		}
		f, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return "", err
		}
		_, err = f.WriteString(e.append)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return "", err
		}
	}

	const mod = "github.com/saaskit/saaskit"
	vdir := filepath.Join(dir, "proxy", mod, "@v")
	if err := os.MkdirAll(vdir, 0o755); err != nil {
		return "", err
	}
	var zip bytes.Buffer
	if err := modzip.CreateFromDir(&zip, module.Version{Path: mod, Version: OldKitVersion}, src); err != nil {
		return "", fmt.Errorf("old kit zip: %w", err)
	}
	gomod, err := os.ReadFile(filepath.Join(src, "go.mod"))
	if err != nil {
		return "", err
	}
	for name, content := range map[string][]byte{
		"list":                  []byte(OldKitVersion + "\n"),
		OldKitVersion + ".info": fmt.Appendf(nil, `{"Version":%q,"Time":"2026-01-01T00:00:00Z"}`, OldKitVersion),
		OldKitVersion + ".mod":  gomod,
		OldKitVersion + ".zip":  zip.Bytes(),
	} {
		if err := os.WriteFile(filepath.Join(vdir, name), content, 0o644); err != nil {
			return "", err
		}
	}

	// Install it the way a user would, from the proxy.
	bin := filepath.Join(dir, "bin")
	install := exec.Command("go", "install", mod+"/cmd/saaskit@"+OldKitVersion)
	install.Dir = dir
	install.Env = append(os.Environ(), oldKitEnv(dir)...)
	install.Env = append(install.Env, "GOBIN="+bin)
	if out, err := install.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install old kit: %w\n%s", err, out)
	}
	if err := os.Rename(filepath.Join(bin, "saaskit"), filepath.Join(bin, "saaskit-old")); err != nil {
		return "", err
	}
	return dir, nil
}

// oldKitEnv is the go command environment that serves the old kit from the
// file proxy and everything else from the module cache.
func oldKitEnv(dir string) []string {
	return []string{
		"GOPROXY=file://" + filepath.ToSlash(filepath.Join(dir, "proxy")),
		"GOSUMDB=off",
		"GOFLAGS=",
		"GOWORK=off",
	}
}

// copyKitSource copies the kit's module (what a module zip would hold) from
// root to dst.
func copyKitSource(root, dst string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if d.IsDir() {
			if rel == ".git" || rel == "testdata" || strings.HasPrefix(d.Name(), ".saaskit") {
				return fs.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
}

// cmdOldKit is the script command `oldkit`: it puts saaskit-old on PATH
// and points the go command at the proxy serving it.
func cmdOldKit(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) > 0 {
		ts.Fatalf("usage: oldkit")
	}
	dir, err := oldKit()
	ts.Check(err)
	ts.Setenv("PATH", filepath.Join(dir, "bin")+string(os.PathListSeparator)+ts.Getenv("PATH"))
	for _, kv := range oldKitEnv(dir) {
		k, v, _ := strings.Cut(kv, "=")
		ts.Setenv(k, v)
	}
}

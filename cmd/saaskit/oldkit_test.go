package main

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/mod/sumdb/dirhash"

	"github.com/saaskit/saaskit/internal/testenv"
)

// The upgrade scripts need an older saaskit, fetched the way `saaskit
// upgrade` fetches one: through the Go module proxy. oldKit builds it once
// per test run from this source tree with the edits below, publishes it in a
// file-based GOPROXY as v0.0.1-old-<hash of its source> (the module cache
// never re-fetches a version it holds, so each source gets its own), installs
// its binary as saaskit-old, and sets OLDKIT_VERSION for the scripts.
//
// The hash joins "old" in one pre-release identifier: on its own, a hash
// that happens to be all digits with a leading zero is not valid semver.
const oldKitBase = "v0.0.1-old-"

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
	// A line of the resource template the new kit drops: an upgrade
	// brings resource template changes to recorded resources.
	{path: "templates/app/internal/httpapi/__resource__.go.tmpl", append: "\n// Only the old kit writes this line.\n"},
	// A file only the new kit renders.
	{path: "templates/app/.dockerignore", remove: true},
}

var (
	oldKitOnce    sync.Once
	oldKitDir     string
	oldKitVersion string
	oldKitErr     error
)

// oldKit returns the directory holding proxy/ (the GOPROXY) and bin/ (with
// saaskit-old).
func oldKit() (string, error) {
	oldKitOnce.Do(func() {
		oldKitDir, oldKitVersion, oldKitErr = buildOldKit()
	})
	return oldKitDir, oldKitErr
}

func buildOldKit() (dir, version string, err error) {
	dir, err = os.MkdirTemp("", "saaskit-oldkit-*")
	if err != nil {
		return "", "", err
	}
	src := filepath.Join(dir, "src")
	if err := copyKitSource(filepath.Join("..", ".."), src); err != nil {
		return "", "", err
	}
	for _, e := range oldKitEdits {
		p := filepath.Join(src, filepath.FromSlash(e.path))
		if e.remove {
			if err := os.Remove(p); err != nil {
				return "", "", fmt.Errorf("old kit: %w", err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", "", err
		}
		f, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return "", "", err
		}
		_, err = f.WriteString(e.append)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return "", "", err
		}
	}

	sum, err := dirhash.HashDir(src, "", dirhash.Hash1)
	if err != nil {
		return "", "", err
	}
	version = oldKitBase + fmt.Sprintf("%x", sha256.Sum256([]byte(sum)))[:12]

	const mod = "github.com/saaskit/saaskit"
	if _, err := testenv.ServeModule(filepath.Join(dir, "proxy"), mod, version, src); err != nil {
		return "", "", fmt.Errorf("old kit: %w", err)
	}

	// Install it the way a user would, from the proxy.
	bin := filepath.Join(dir, "bin")
	install := exec.Command("go", "install", mod+"/cmd/saaskit@"+version)
	install.Dir = dir
	install.Env = append(os.Environ(), oldKitEnv(dir)...)
	install.Env = append(install.Env, "GOBIN="+bin)
	if out, err := install.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("go install old kit: %w\n%s", err, out)
	}
	if err := os.Rename(filepath.Join(bin, "saaskit"), filepath.Join(bin, "saaskit-old")); err != nil {
		return "", "", err
	}
	return dir, version, nil
}

// oldKitEnv is the go command environment that serves the old kit from the
// file proxy and everything else from the module cache, or failing that
// from the proxy the tests were started with: a script's `go get` needs the
// go.mod of every module in the graph, and which of those an earlier build
// happened to fetch depends on what ran before.
func oldKitEnv(dir string) []string {
	proxy := "file://" + filepath.ToSlash(filepath.Join(dir, "proxy"))
	if outer, err := goEnvValue("GOPROXY"); err == nil && outer != "off" {
		proxy += "," + outer
	}
	return []string{
		"GOPROXY=" + proxy,
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
	ts.Setenv("OLDKIT_VERSION", oldKitVersion)
	ts.Setenv("PATH", filepath.Join(dir, "bin")+string(os.PathListSeparator)+ts.Getenv("PATH"))
	for _, kv := range oldKitEnv(dir) {
		k, v, _ := strings.Cut(kv, "=")
		ts.Setenv(k, v)
	}
}

// removeOldKit deletes the old kit from the module cache and disk once the
// scripts are done, so test runs do not pile up versions in the cache.
func removeOldKit() {
	if oldKitDir == "" {
		return
	}
	os.RemoveAll(oldKitDir)
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil || oldKitVersion == "" {
		return
	}
	cache := strings.TrimSpace(string(out))
	extracted := filepath.Join(cache, "github.com", "saaskit", "saaskit@"+oldKitVersion)
	// The module cache makes its files read-only.
	filepath.WalkDir(extracted, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o755)
		}
		return nil
	})
	os.RemoveAll(extracted)
	matches, _ := filepath.Glob(filepath.Join(cache, "cache", "download", "github.com", "saaskit", "saaskit", "@v", oldKitVersion+".*"))
	for _, m := range matches {
		os.Remove(m)
	}
}

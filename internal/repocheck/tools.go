package repocheck

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/build"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"

	"gopkg.in/yaml.v3"
)

// ErrToolMissing is wrapped by the error of a check whose tool is not
// installed, so that tests can skip where services are not required.
var ErrToolMissing = errors.New("tool not installed")

// installs says how to install each tool the checks run, pinned to the
// versions CI installs (.ci/run, .github/workflows/ci.yml).
var installs = map[string]string{
	"actionlint":    "github.com/rhysd/actionlint/cmd/actionlint@v1.7.12",
	"golangci-lint": "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0",
	"goreleaser":    "github.com/goreleaser/goreleaser/v2@v2.15.1",
}

// LookTool finds the executable name on PATH, else where `go install` puts
// it (GOBIN, else the first GOPATH's bin). When it is in neither, the error
// wraps ErrToolMissing and says how to install it.
func LookTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	dir := goBin()
	p := filepath.Join(dir, name)
	if runtime.GOOS == "windows" {
		p += ".exe"
	}
	if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
		return p, nil
	}
	how := "install it"
	if pkg, ok := installs[name]; ok {
		how = "install it with `go install " + pkg + "`"
	}
	return "", fmt.Errorf("%w: %s is not on PATH or in %s; %s", ErrToolMissing, name, dir, how)
}

// goBin is the directory `go install` writes to. It is asked for each time,
// not cached: it costs a `go env`, and lookups are few.
func goBin() string {
	out, err := exec.Command("go", "env", "GOBIN", "GOPATH").Output()
	if err == nil {
		// One line each, the first empty when GOBIN is unset.
		gobin, gopath, _ := strings.Cut(string(out), "\n")
		if gobin = strings.TrimSpace(gobin); gobin != "" {
			return gobin
		}
		if list := filepath.SplitList(strings.TrimSpace(gopath)); len(list) > 0 && list[0] != "" {
			return filepath.Join(list[0], "bin")
		}
	}
	// No go command: go/build knows GOPATH's environment value and default.
	return filepath.Join(build.Default.GOPATH, "bin")
}

// Workflow lints a GitHub Actions workflow file with actionlint, which also
// runs shellcheck on `run:` scripts where shellcheck is installed.
func Workflow(ctx context.Context, path string) error {
	bin, err := LookTool("actionlint")
	if err != nil {
		return err
	}
	// Run beside the file: actionlint prints paths relative to its working
	// directory, which would otherwise be a string of ../
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	if err := runTool(ctx, filepath.Dir(abs), bin, "-no-color", "-oneline", filepath.Base(abs)); err != nil {
		return fmt.Errorf("workflow %s: %w", path, err)
	}
	return nil
}

// Goreleaser checks a goreleaser configuration file with `goreleaser
// check`: a version 2 configuration, valid, and free of deprecated options.
//
// goreleaser insists on a git repository with a remote to take the release
// repository from, which a freshly generated repository (or a clone without
// one) lacks, so the file is checked from a scratch repository with a
// stand-in remote; the configuration itself is not touched.
func Goreleaser(ctx context.Context, config string) error {
	content, err := os.ReadFile(config)
	if err != nil {
		return fmt.Errorf("goreleaser: %w", err)
	}
	var head struct {
		Version int `yaml:"version"`
	}
	if err = yaml.Unmarshal(content, &head); err != nil {
		return fmt.Errorf("goreleaser %s: %w", config, err)
	}
	if head.Version != 2 {
		// goreleaser v2 only warns about this.
		return fmt.Errorf("goreleaser %s: version: %d, want version: 2", config, head.Version)
	}

	bin, err := LookTool("goreleaser")
	if err != nil {
		return err
	}
	git, err := exec.LookPath("git")
	if err != nil {
		return fmt.Errorf("goreleaser check needs git: %w", err)
	}
	scratch, err := os.MkdirTemp("", "repocheck-goreleaser-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(scratch) }()
	name := filepath.Base(config)
	if err := os.WriteFile(filepath.Join(scratch, name), content, 0o644); err != nil {
		return err
	}
	if err := runTool(ctx, scratch, git, "init", "--quiet"); err != nil {
		return err
	}
	if err := runTool(ctx, scratch, git, "remote", "add", "origin", "https://github.com/repocheck/stand-in.git"); err != nil {
		return err
	}
	if err := runTool(ctx, scratch, bin, "check", "--config", name); err != nil {
		return fmt.Errorf("%s: %w", config, err)
	}
	return nil
}

// colourForcing names the variables CI systems set to force coloured output
// even into a pipe; a checker's findings are matched as text, so they go.
var colourForcing = map[string]bool{"CLICOLOR_FORCE": true, "FORCE_COLOR": true, "NO_COLOR": true}

// ansiEscape matches the terminal escape sequences a checker may still
// print (some colour regardless of NO_COLOR).
var ansiEscape = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`)

// runTool runs a checker in dir and turns a failure into an error carrying
// its output, which is where the findings are.
//
// GIT_* variables are dropped: run from a git hook, GIT_DIR and friends
// would point the scratch repository's git commands at the real one.
func runTool(ctx context.Context, dir, bin string, args ...string) error {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "GIT_") && !colourForcing[name] {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "NO_COLOR=1") // last, so it wins over an inherited value
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		findings := ansiEscape.ReplaceAll(bytes.TrimSpace(out.Bytes()), nil)
		return fmt.Errorf("%s %s: %w\n%s", filepath.Base(bin), strings.Join(args, " "), err, findings)
	}
	return nil
}

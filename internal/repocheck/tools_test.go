package repocheck

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/saaskit/saaskit/internal/testenv"
)

// requireTool skips the test when a checker is not installed, or fails it
// when SAASKIT_REQUIRE_SERVICES=1.
func requireTool(t *testing.T, name string) {
	t.Helper()
	if _, err := LookTool(name); err != nil {
		testenv.Absent(t, err.Error())
	}
}

// onlyGoOnPath leaves PATH with just the go command, which LookTool runs.
func onlyGoOnPath(t *testing.T) {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	t.Setenv("PATH", filepath.Dir(goCmd))
}

func fakeTool(t *testing.T, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLookTool(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("fake tools are shell scripts")
	}

	t.Run("on PATH", func(t *testing.T) {
		dir := t.TempDir()
		want := fakeTool(t, dir, "repocheck-fake")
		t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
		if got, err := LookTool("repocheck-fake"); err != nil || got != want {
			t.Errorf("LookTool = %q, %v; want %q", got, err, want)
		}
	})

	t.Run("in GOBIN", func(t *testing.T) {
		onlyGoOnPath(t)
		gobin := t.TempDir()
		t.Setenv("GOBIN", gobin)
		want := fakeTool(t, gobin, "repocheck-fake")
		if got, err := LookTool("repocheck-fake"); err != nil || got != want {
			t.Errorf("LookTool = %q, %v; want %q", got, err, want)
		}
	})

	t.Run("in GOPATH/bin", func(t *testing.T) {
		onlyGoOnPath(t)
		gopath := t.TempDir()
		t.Setenv("GOBIN", "")
		t.Setenv("GOPATH", gopath+string(os.PathListSeparator)+t.TempDir())
		if err := os.Mkdir(filepath.Join(gopath, "bin"), 0o755); err != nil {
			t.Fatal(err)
		}
		want := fakeTool(t, filepath.Join(gopath, "bin"), "repocheck-fake")
		if got, err := LookTool("repocheck-fake"); err != nil || got != want {
			t.Errorf("LookTool = %q, %v; want %q", got, err, want)
		}
	})

	t.Run("missing", func(t *testing.T) {
		onlyGoOnPath(t)
		gobin := t.TempDir()
		t.Setenv("GOBIN", gobin)
		_, err := LookTool("actionlint")
		if !errors.Is(err, ErrToolMissing) {
			t.Fatalf("err = %v, want ErrToolMissing", err)
		}
		wantErr(t, err, "actionlint is not on PATH or in "+gobin,
			"go install github.com/rhysd/actionlint/cmd/actionlint@v1.7.12")

		// A check whose tool is missing says so the same way.
		err = Workflow(t.Context(), "ci.yml")
		if !errors.Is(err, ErrToolMissing) {
			t.Errorf("Workflow without actionlint: err = %v, want ErrToolMissing", err)
		}
	})
}

// validWorkflow is the shape of a generated CI workflow; the broken cases
// below are edits of it.
const validWorkflow = `name: CI
on:
  push:
    branches: [main]
  pull_request:
permissions:
  contents: read
jobs:
  test:
    runs-on: ubuntu-latest
    timeout-minutes: 20
    strategy:
      matrix:
        go: ["1.26.x"]
    services:
      postgres:
        image: postgres:16
        env:
          POSTGRES_PASSWORD: postgres
        ports: ["5432:5432"]
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-go@v5
        with:
          go-version: ${{ matrix.go }}
          cache: true
      - run: go test ./...
        env:
          TEST_DATABASE_URL: postgres://postgres:postgres@localhost:5432/postgres?sslmode=disable
`

func TestWorkflow(t *testing.T) {
	requireTool(t, "actionlint")
	t.Parallel()

	if err := Workflow(t.Context(), writeFile(t, "ci.yml", validWorkflow)); err != nil {
		t.Fatalf("valid workflow: %v", err)
	}

	tests := []struct {
		name    string
		content string
		want    []string
	}{
		{"not YAML", "jobs: [\n", []string{"could not parse as YAML"}},
		{"undefined matrix value", replace(t, validWorkflow, "${{ matrix.go }}", "${{ matrix.golang }}"),
			[]string{`ci.yml:25:`, `property "golang" is not defined`}},
		{"bad timeout", replace(t, validWorkflow, "timeout-minutes: 20", "timeout-minutes: soon"),
			[]string{`ci.yml:11:22: expecting a single ${{...}} expression or float number literal`}},
		{"misspelt key", replace(t, validWorkflow, "runs-on: ubuntu-latest", "runs_on: ubuntu-latest"),
			[]string{`unexpected key "runs_on" for "job" section`}},
		{"unknown action input", replace(t, validWorkflow, "go-version:", "go_version:"),
			[]string{`input "go_version" is not defined in action "actions/setup-go@v5"`}},
		{"needs an undefined job", replace(t, validWorkflow, "    runs-on: ubuntu-latest", "    needs: [lint]\n    runs-on: ubuntu-latest"),
			[]string{`job "test" needs job "lint" which does not exist`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := Workflow(t.Context(), writeFile(t, "ci.yml", tt.content))
			if errors.Is(err, ErrToolMissing) {
				t.Fatal(err)
			}
			wantErr(t, err, tt.want...)
		})
	}
}

// TestKitWorkflows holds saaskit's own workflows to the standard it holds
// the generated ones to.
func TestKitWorkflows(t *testing.T) {
	requireTool(t, "actionlint")
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("..", "..", ".github", "workflows", "*.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no workflows in .github/workflows")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			if err := Workflow(t.Context(), f); err != nil {
				t.Error(err)
			}
		})
	}
}

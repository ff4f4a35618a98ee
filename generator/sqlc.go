package generator

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	sqlc "github.com/sqlc-dev/sqlc/pkg/cli"
)

const sqlcConfig = "sqlc.yaml"

// sqlcChildEnv marks a process started to run sqlc.
//
// sqlc's library entry point (pkg/cli) ends the whole process with
// os.Exit(1) on any error in a query or a schema, so running it in the
// kit's own process would kill saaskit mid-command, silently (its
// diagnostics go to os.Stderr). Instead the running binary starts a copy of
// itself with this variable set, and that copy's main hands over to sqlc
// (SQLCChild) before anything else runs. The sqlc is still the one compiled
// into saaskit (nothing to install); only its exit is contained.
const sqlcChildEnv = "SAASKIT_SQLC_CHILD"

// SQLCChild runs sqlc when this process was started by SQLC as its child,
// and reports whether it did, with the exit code to end the process with.
// saaskit's main, and the TestMain of every test binary that renders, start
// with:
//
//	if code, ok := generator.SQLCChild(); ok {
//		os.Exit(code)
//	}
func SQLCChild() (code int, ok bool) {
	if os.Getenv(sqlcChildEnv) != "1" {
		return 0, false
	}
	return sqlc.Run(os.Args[1:]), true
}

// GenerateQueryCode is the tooling stage of a render: it runs the built-in
// sqlc over the plan's queries (in a child process, see sqlcChildEnv) and
// adds the query code it generates, marked Generated, keeping the plan
// sorted. It is apart from the pure Render so that the core can be called
// and tested without a process that plays sqlc's child.
func GenerateQueryCode(plan *Plan) error {
	if err := runSQLC(plan); err != nil {
		return err
	}
	plan.sort()
	return nil
}

// runSQLC runs the built-in sqlc over the rendered tree and adds the code it
// generates to the plan, so the generated repository's queries compile right
// away. The generated repository regenerates the same bytes with `make sqlc`.
func runSQLC(plan *Plan) error {
	out, err := SQLC(plan.Files)
	if err != nil {
		return err
	}
	for _, f := range out {
		if existing := plan.File(f.Path); existing != nil {
			if !bytes.Equal(existing.Content, f.Content) {
				return fmt.Errorf("sqlc overwrote %s, which a template renders", f.Path)
			}
			continue
		}
		plan.add(f)
	}
	return nil
}

// SQLC runs `sqlc generate` over the sqlc.yaml and .sql files among files
// and returns what it generates, marked Generated. Without a sqlc.yaml it
// returns nothing.
func SQLC(files []File) ([]File, error) {
	var inputs []File
	hasConfig := false
	for _, f := range files {
		if f.Path == sqlcConfig || strings.HasSuffix(f.Path, ".sql") {
			inputs = append(inputs, f)
			hasConfig = hasConfig || f.Path == sqlcConfig
		}
	}
	if !hasConfig {
		return nil, nil
	}
	tmp, err := os.MkdirTemp("", "saaskit-sqlc-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	if err := writeTree(tmp, inputs); err != nil {
		return nil, err
	}
	code, diag, err := sqlcGenerate(filepath.Join(tmp, sqlcConfig))
	if err != nil {
		return nil, err
	}
	if code != 0 {
		return nil, fmt.Errorf("sqlc generate failed (exit %d):\n%s", code, diag)
	}
	given := map[string]bool{}
	for _, f := range inputs {
		given[f.Path] = true
	}
	var out []File
	err = filepath.WalkDir(tmp, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(tmp, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if given[rel] {
			return nil
		}
		content, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out = append(out, File{Path: rel, Content: content, Mode: 0o644, Generated: true})
		return nil
	})
	return out, err
}

// sqlcGenerate runs `sqlc generate -f config` in a child process (see
// sqlcChildEnv) and returns its exit code and diagnostics.
func sqlcGenerate(config string) (int, string, error) {
	if os.Getenv(sqlcChildEnv) == "1" {
		// This binary was started as the sqlc child but its main did not
		// hand over: starting another child would recurse.
		return 0, "", errors.New("sqlc: this binary does not run sqlc as a child: its main (or TestMain) must call generator.SQLCChild first")
	}
	exe, err := os.Executable()
	if err != nil {
		return 0, "", fmt.Errorf("sqlc: find the running binary: %w", err)
	}
	var diag bytes.Buffer
	cmd := exec.Command(exe, "generate", "--no-remote", "-f", config)
	cmd.Env = append(os.Environ(), sqlcChildEnv+"=1")
	cmd.Stdout, cmd.Stderr = &diag, &diag
	err = cmd.Run()
	if exitErr, ok := errors.AsType[*exec.ExitError](err); ok && exitErr.ExitCode() > 0 {
		return exitErr.ExitCode(), diag.String(), nil
	}
	if err != nil {
		return 0, "", fmt.Errorf("sqlc: %w", err)
	}
	return 0, diag.String(), nil
}

package generator

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	sqlc "github.com/sqlc-dev/sqlc/pkg/cli"
)

const sqlcConfig = "sqlc.yaml"

// sqlcMu serialises sqlc runs: sqlc's library entry point writes its
// diagnostics to os.Stderr, which runSQLC redirects while it runs.
var sqlcMu sync.Mutex

// runSQLC runs sqlc in-process over the rendered tree and adds the code it
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

// sqlcGenerate runs `sqlc generate -f config` and returns its exit code and
// diagnostics.
func sqlcGenerate(config string) (int, string, error) {
	sqlcMu.Lock()
	defer sqlcMu.Unlock()
	diag, err := os.CreateTemp("", "saaskit-sqlc-stderr-*")
	if err != nil {
		return 0, "", err
	}
	defer os.Remove(diag.Name())
	defer diag.Close()

	stderr := os.Stderr
	os.Stderr = diag
	code := sqlc.Run([]string{"generate", "--no-remote", "-f", config})
	os.Stderr = stderr

	if _, err := diag.Seek(0, io.SeekStart); err != nil {
		return 0, "", err
	}
	out, err := io.ReadAll(diag)
	return code, string(out), err
}

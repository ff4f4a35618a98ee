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
	if plan.File(sqlcConfig) == nil {
		return nil
	}
	tmp, err := os.MkdirTemp("", "saaskit-sqlc-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	// sqlc reads only its config, the schema and the queries.
	var inputs []File
	for _, f := range plan.Files {
		if f.Path == sqlcConfig || strings.HasSuffix(f.Path, ".sql") {
			inputs = append(inputs, f)
		}
	}
	if err := writeTree(tmp, inputs); err != nil {
		return err
	}

	code, diag, err := sqlcGenerate(filepath.Join(tmp, sqlcConfig))
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("sqlc generate failed (exit %d):\n%s", code, diag)
	}
	return filepath.WalkDir(tmp, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(tmp, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		content, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if f := plan.File(rel); f != nil {
			if !bytes.Equal(f.Content, content) {
				return fmt.Errorf("sqlc overwrote %s, which a template renders", rel)
			}
			return nil
		}
		plan.add(File{Path: rel, Content: content})
		return nil
	})
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

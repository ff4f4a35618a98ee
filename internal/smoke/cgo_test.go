package smoke

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/saaskit/saaskit/internal/testenv"
)

// sqlc parses SQL with a C library when cgo is available and falls back to
// a WebAssembly build of it otherwise; `go install` must work either way
// and both must write the same repository.
func TestNewWithAndWithoutCgo(t *testing.T) {
	testenv.Slow(t, "builds saaskit with and without cgo")
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("no C compiler: the cgo build cannot be compared")
	}
	tmp := t.TempDir()
	trees := map[string]string{}
	for _, cgo := range []string{"1", "0"} {
		bin := filepath.Join(tmp, "saaskit-cgo"+cgo)
		build := exec.Command("go", "build", "-o", bin, "github.com/saaskit/saaskit/cmd/saaskit")
		build.Env = append(os.Environ(), "CGO_ENABLED="+cgo)
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("CGO_ENABLED=%s go build: %v\n%s", cgo, err, out)
		}
		dir := filepath.Join(tmp, "out"+cgo)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		gen := exec.Command(bin, "new", "app", "--yes", "--no-git", "--broker", "redis")
		gen.Dir = dir
		if out, err := gen.CombinedOutput(); err != nil {
			t.Fatalf("CGO_ENABLED=%s saaskit new: %v\n%s", cgo, err, out)
		}
		trees[cgo] = filepath.Join(dir, "app")
	}
	a, b := readTree(t, trees["1"]), readTree(t, trees["0"])
	if len(a) != len(b) {
		t.Fatalf("cgo build wrote %d files, the pure-Go build %d", len(a), len(b))
	}
	for p, content := range a {
		if !bytes.Equal(content, b[p]) {
			t.Errorf("%s differs between the cgo and pure-Go builds", p)
		}
	}
}

func readTree(t *testing.T, root string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(root, p)
		files[rel] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

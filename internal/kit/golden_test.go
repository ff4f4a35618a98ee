package kit

import (
	"bytes"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/saaskit/saaskit/generator"
)

var update = flag.Bool("update", false, "rewrite the golden trees under testdata/golden")

// goldenVersion stands in for the kit version, so golden trees do not change
// with every build.
const goldenVersion = "v0.0.0-golden"

// GoldenCases are representative option sets whose whole generated tree is
// kept under testdata/golden/<name>.
var GoldenCases = []struct {
	Name    string
	Answers generator.Answers
}{
	{"schema-postgres-stripe", generator.Answers{
		"name": "acme", "module": "example.com/acme",
		"tenancy": "schema", "broker": "postgres", "billing": "stripe", "realtime": "none",
	}},
	{"row-redis-websocket", generator.Answers{
		"name": "shop", "module": "github.com/acme/shop",
		"tenancy": "row", "broker": "redis", "billing": "none", "realtime": "websocket",
	}},
}

func TestGolden(t *testing.T) {
	bp, tree, err := Load(AppBlueprint)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range GoldenCases {
		t.Run(tc.Name, func(t *testing.T) {
			plan, err := generator.Render(bp, tree, generator.Input{Answers: tc.Answers, KitVersion: goldenVersion})
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join("..", "..", "testdata", "golden", tc.Name)
			if *update {
				if err := os.RemoveAll(dir); err != nil {
					t.Fatal(err)
				}
				if err := generator.Write(plan, dir, generator.WriteOptions{}); err != nil {
					t.Fatal(err)
				}
				return
			}
			compareTree(t, plan, dir)
		})
	}
}

// compareTree reports every file that differs from, is missing from, or is
// extra in the golden directory.
func compareTree(t *testing.T, plan *generator.Plan, dir string) {
	t.Helper()
	onDisk := map[string]bool{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		onDisk[filepath.ToSlash(rel)] = true
		return err
	})
	if err != nil {
		t.Fatalf("read golden tree (run `go test ./internal/kit -run TestGolden -update` to create it): %v", err)
	}
	for _, f := range plan.Files {
		want, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f.Path)))
		if err != nil {
			t.Errorf("%s: new file not in the golden tree", f.Path)
			continue
		}
		delete(onDisk, f.Path)
		if !bytes.Equal(want, f.Content) {
			t.Errorf("%s differs from the golden tree:\n%s", f.Path, firstDiff(want, f.Content))
		}
	}
	var stale []string
	for p := range onDisk {
		stale = append(stale, p)
	}
	sort.Strings(stale)
	for _, p := range stale {
		t.Errorf("%s: in the golden tree but no longer generated", p)
	}
	if t.Failed() {
		t.Log("if the change is intended: go test ./internal/kit -run TestGolden -update")
	}
}

// firstDiff shows the first differing line.
func firstDiff(want, got []byte) string {
	wl, gl := bytes.Split(want, []byte("\n")), bytes.Split(got, []byte("\n"))
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g []byte
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if !bytes.Equal(w, g) {
			return fmt.Sprintf("line %d:\n  golden:    %s\n  generated: %s", i+1, w, g)
		}
	}
	return "(only line endings differ)"
}

// The real app renders to the same bytes every time, sqlc output included.
func TestRenderIsDeterministic(t *testing.T) {
	t.Parallel()
	bp, tree, err := Load(AppBlueprint)
	if err != nil {
		t.Fatal(err)
	}
	in := generator.Input{Answers: GoldenCases[0].Answers, KitVersion: goldenVersion}
	first, err := generator.Render(bp, tree, in)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		again, err := generator.Render(bp, tree, in)
		if err != nil {
			t.Fatal(err)
		}
		if len(again.Files) != len(first.Files) {
			t.Fatalf("%d files, then %d", len(first.Files), len(again.Files))
		}
		for i, f := range first.Files {
			if again.Files[i].Path != f.Path || !bytes.Equal(again.Files[i].Content, f.Content) {
				t.Fatalf("%s differs between two renders", f.Path)
			}
		}
	}
}

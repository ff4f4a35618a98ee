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

// goldenVersion stands in for the kit version in every golden record, so
// golden trees do not change with every build.
const goldenVersion = "v0.0.0-golden"

// goldenDir holds one tree per representative option set, each with its
// own record: the record is the case.
var goldenDir = filepath.Join("..", "..", "testdata", "golden")

// goldenCases lists the golden trees' records.
func goldenCases(t testing.TB) []Case {
	t.Helper()
	cases, err := GoldenCases(goldenDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		if c.KitVersion != goldenVersion {
			t.Fatalf("%s/%s: kit_version %s, want %s", c.Name, generator.RecordFile, c.KitVersion, goldenVersion)
		}
	}
	return cases
}

// goldenCase returns the golden case called name.
func goldenCase(t testing.TB, name string) Case {
	t.Helper()
	for _, c := range goldenCases(t) {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no golden tree %s under %s", name, goldenDir)
	return Case{}
}

// TestGolden renders each golden tree's record and compares the render
// with the tree; with -update it rewrites the tree from its record (a new
// case starts as a directory holding only its .saaskit.yaml).
func TestGolden(t *testing.T) {
	for _, tc := range goldenCases(t) {
		t.Run(tc.Name, func(t *testing.T) {
			plan, err := Renderer{}.Render(t.Context(), tc.Record)
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(goldenDir, tc.Name)
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
	rec := goldenCase(t, "schema-postgres").Record
	first, err := Renderer{}.Render(t.Context(), rec)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		again, err := Renderer{}.Render(t.Context(), rec)
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

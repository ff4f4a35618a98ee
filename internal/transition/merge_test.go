package transition

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/saaskit/saaskit/generator"
	"github.com/saaskit/saaskit/internal/cmdutil"
)

func plan(files map[string]string) *generator.Plan {
	p := &generator.Plan{}
	for path, content := range files {
		p.Files = append(p.Files, generator.File{Path: path, Content: []byte(content), Mode: 0o644})
	}
	return p
}

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, content := range files {
		dst := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func isMigration(p string) bool { return strings.HasPrefix(p, "migrations/") }

// TestComputeDecisionTable walks every row of the merge rules with the real
// git merge.
func TestComputeDecisionTable(t *testing.T) {
	t.Parallel()
	base := plan(map[string]string{
		"untouched.txt":        "a\nb\nc\n",
		"user-only.txt":        "a\nb\nc\n",
		"both-clean.txt":       "1\n2\n3\n4\n5\n6\n7\n8\n",
		"both-conflict.txt":    "a\nb\nc\n",
		"user-deleted.txt":     "a\n",
		"dropped.txt":          "old\n",
		"dropped-modified.txt": "old\n",
		"same-change.txt":      "a\n",
		"migrations/001.sql":   "create table a();\n",
	})
	theirs := plan(map[string]string{
		"untouched.txt":      "a\nB\nc\n",
		"user-only.txt":      "a\nb\nc\n",
		"both-clean.txt":     "1\n2\n3\n4\n5\n6\n7\nEIGHT\n",
		"both-conflict.txt":  "a\nKIT\nc\n",
		"user-deleted.txt":   "a changed\n",
		"same-change.txt":    "b\n",
		"new.txt":            "new\n",
		"migrations/001.sql": "create table a(id int);\n",
		"migrations/002.sql": "create table b();\n",
	})
	root := writeTree(t, map[string]string{
		"untouched.txt":        "a\nb\nc\n",
		"user-only.txt":        "a\nmine\nc\n",
		"both-clean.txt":       "ONE\n2\n3\n4\n5\n6\n7\n8\n",
		"both-conflict.txt":    "a\nMINE\nc\n",
		"dropped.txt":          "old\n",
		"dropped-modified.txt": "old and mine\n",
		"same-change.txt":      "b\n",
		"migrations/001.sql":   "create table a();\n",
	})

	changes, err := Compute(Inputs{
		Base: base, Theirs: theirs, Root: root,
		Merge:       GitMerger(context.Background(), "yours", "base", "kit"),
		IsMigration: isMigration,
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Change{}
	for _, c := range changes {
		got[c.Path] = c
	}
	want := map[string]Action{
		"untouched.txt":        Update,
		"user-only.txt":        Keep,
		"both-clean.txt":       Merge,
		"both-conflict.txt":    Conflict,
		"user-deleted.txt":     KeepDeleted,
		"dropped.txt":          Remove,
		"dropped-modified.txt": KeepDropped,
		"new.txt":              Add,
		"migrations/001.sql":   Migration,
		"migrations/002.sql":   Add,
	}
	for p, a := range want {
		if got[p].Action != a || got[p].Path == "" {
			t.Errorf("%s: action %v, want %v", p, got[p].Action, a)
		}
	}
	if _, ok := got["same-change.txt"]; ok {
		t.Error("same-change.txt already matches the kit but is listed")
	}
	if len(got) != len(want) {
		t.Errorf("got %d changes, want %d: %v", len(got), len(want), changes)
	}
	if s := string(got["both-clean.txt"].New); s != "ONE\n2\n3\n4\n5\n6\n7\nEIGHT\n" {
		t.Errorf("clean merge = %q", s)
	}
	conflict := string(got["both-conflict.txt"].New)
	for _, w := range []string{"<<<<<<< yours\nMINE\n=======\nKIT\n>>>>>>> kit\n"} {
		if !strings.Contains(conflict, w) {
			t.Errorf("conflict result lacks %q:\n%s", w, conflict)
		}
	}

	if err := Apply(changes, root); err != nil {
		t.Fatal(err)
	}
	read := func(p string) string {
		b, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			return "<absent>"
		}
		return string(b)
	}
	for p, w := range map[string]string{
		"untouched.txt":        "a\nB\nc\n",
		"user-only.txt":        "a\nmine\nc\n",
		"user-deleted.txt":     "<absent>",
		"dropped.txt":          "<absent>",
		"dropped-modified.txt": "old and mine\n",
		"new.txt":              "new\n",
		"migrations/001.sql":   "create table a();\n",
		"migrations/002.sql":   "create table b();\n",
	} {
		if g := read(p); g != w {
			t.Errorf("after Apply %s = %q, want %q", p, g, w)
		}
	}
}

func TestMergeModFile(t *testing.T) {
	t.Parallel()
	ours := `module example.com/mine

go 1.26.0

require (
	example.org/kept v1.0.0
	example.org/raised v1.1.0
	example.org/user v0.3.0 // the user's own
	example.org/newer v1.9.0
)

replace example.org/user => ../user
`
	theirs := `module example.com/kit

go 1.26.3

tool example.org/tool/cmd/tool

require (
	example.org/kept v1.0.0
	example.org/raised v1.2.0
	example.org/newer v1.5.0
	example.org/added v0.1.0
)

require example.org/indirect v0.2.0 // indirect
`
	got, err := MergeModFile([]byte(ours), []byte(theirs))
	if err != nil {
		t.Fatal(err)
	}
	s := string(got)
	for _, w := range []string{
		"module example.com/mine\n",
		"go 1.26.3\n",
		"tool example.org/tool/cmd/tool\n",
		"example.org/raised v1.2.0",
		"example.org/newer v1.9.0",
		"example.org/user v0.3.0 // the user's own",
		"example.org/added v0.1.0",
		"example.org/indirect v0.2.0 // indirect",
		"replace example.org/user => ../user",
	} {
		if !strings.Contains(s, w) {
			t.Errorf("merged go.mod lacks %q:\n%s", w, s)
		}
	}
	if strings.Contains(s, "v1.5.0") || strings.Contains(s, "raised v1.1.0") {
		t.Errorf("merged go.mod lowered or kept an old pin:\n%s", s)
	}
}

func TestMergeSum(t *testing.T) {
	t.Parallel()
	ours := "a v1.0.0 h1:A=\nuser v0.1.0 h1:U=\n"
	if got := string(MergeSum([]byte(ours), []byte("a v1.0.0 h1:A=\n"))); got != ours {
		t.Errorf("nothing new, but go.sum changed: %q", got)
	}
	if got := string(MergeSum([]byte(ours), []byte("a v1.0.0 h1:A=\nb v2.0.0 h1:B=\n"))); got != ours+"b v2.0.0 h1:B=\n" {
		t.Errorf("MergeSum = %q", got)
	}
}

func TestDryRunDiffIsColouredOnlyOnATerminal(t *testing.T) {
	t.Parallel()
	changes := []Change{{Path: "a.txt", Action: Update, Old: []byte("old\n"), New: []byte("new\n")}}
	ios, _, out, _ := cmdutil.Test()
	if err := printDiff(ios, changes); err != nil {
		t.Fatal(err)
	}
	if want := "--- a/a.txt\n+++ b/a.txt\n@@ -1 +1 @@\n-old\n+new\n"; out.String() != want {
		t.Errorf("plain diff:\n%q\nwant\n%q", out, want)
	}
	ios, _, out, _ = cmdutil.Test()
	ios.SetTTY(false, true)
	if err := printDiff(ios, changes); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "\x1b[31m-old\x1b[0m\n") || !strings.Contains(out.String(), "\x1b[32m+new\x1b[0m\n") {
		t.Errorf("terminal diff not coloured: %q", out)
	}
}

func TestRerunCommand(t *testing.T) {
	for _, tt := range []struct {
		dir   string
		force bool
		rest  []string
		want  string
	}{
		{".", false, nil, "saaskit upgrade"},
		{"apps/api", true, nil, "saaskit upgrade -C apps/api --force"},
		{"my app", false, []string{"--base-from", "/tmp/it's here"}, `saaskit upgrade -C 'my app' --base-from '/tmp/it'\''s here'`},
		{".", false, []string{"billing=stripe", "realtime=websocket"}, "saaskit upgrade billing=stripe realtime=websocket"},
	} {
		if got := RerunCommand("saaskit upgrade", tt.dir, tt.force, tt.rest...); got != tt.want {
			t.Errorf("RerunCommand(%q, %v, %q) = %s, want %s", tt.dir, tt.force, tt.rest, got, tt.want)
		}
	}
}

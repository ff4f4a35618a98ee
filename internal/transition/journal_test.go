package transition

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/saaskit/saaskit/generator"
	"github.com/saaskit/saaskit/internal/cmdutil"
	"github.com/saaskit/saaskit/internal/testenv"
)

// The trees of TestInterruptedUpgradeResumes: every kind of write, one of
// them a conflict.
var (
	resumeBase = map[string]string{
		"a.txt":     "a\n",
		"b.txt":     "1\n2\n3\n",
		"c.txt":     "1\n2\n3\n4\n5\n6\n7\n8\n",
		"e.txt":     "dropped\n",
		"sub/f.txt": "f\n",
	}
	resumeTheirs = map[string]string{
		"a.txt":     "A\n",
		"b.txt":     "1\nKIT\n3\n",
		"c.txt":     "1\n2\n3\n4\n5\n6\n7\nEIGHT\n",
		"d.txt":     "new\n",
		"sub/f.txt": "F\n",
	}
	resumeOurs = map[string]string{
		"a.txt":     "a\n",
		"b.txt":     "1\nMINE\n3\n",
		"c.txt":     "ONE\n2\n3\n4\n5\n6\n7\n8\n",
		"e.txt":     "dropped\n",
		"sub/f.txt": "f\n",
	}
	resumeWrites = 6 // a, b, c, d, e (removed), sub/f
)

func record(t *testing.T, version string) *generator.Record {
	t.Helper()
	return &generator.Record{Schema: generator.RecordSchema, KitVersion: version, Blueprint: "app", Answers: generator.Answers{"name": "x"}, Resources: []generator.Resource{}}
}

func marshal(t *testing.T, r *generator.Record) []byte {
	t.Helper()
	b, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// gitRepo writes files and the record for version v1 into a new git
// repository and commits them.
func gitRepo(t *testing.T, files map[string]string) string {
	t.Helper()
	all := map[string]string{generator.RecordFile: string(marshal(t, record(t, "v1")))}
	for p, c := range files {
		all[p] = c
	}
	root := writeTree(t, all)
	for _, args := range [][]string{
		{"init", "-q"},
		{"add", "-A"},
		{"-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "generated"},
	} {
		cmd := exec.Command("git", args...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	return root
}

// snapshot reads every file of the work tree except .git.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	plan, err := ReadPlan(root)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, f := range plan.Files {
		files[f.Path] = string(f.Content)
	}
	return files
}

func sameTree(t *testing.T, label string, got, want map[string]string) {
	t.Helper()
	for p, w := range want {
		if g, ok := got[p]; !ok {
			t.Errorf("%s: %s missing", label, p)
		} else if g != w {
			t.Errorf("%s: %s = %q, want %q", label, p, g, w)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s: unexpected %s", label, p)
		}
	}
}

type runner struct {
	t      *testing.T
	root   string
	exec   cmdutil.Executor
	stderr *strings.Builder
}

func newRunner(t *testing.T, root string) *runner {
	return &runner{t: t, root: root, exec: cmdutil.Exec}
}

// run runs an upgrade of the repository at r.root from base to theirs,
// to record version; hook, when set, runs before each file write.
func (r *runner) run(base, theirs map[string]string, version string, force bool, hook func(string) error) error {
	r.t.Helper()
	repo, err := OpenRepo(r.root)
	if err != nil {
		r.t.Fatal(err)
	}
	ios, _, _, errOut := cmdutil.Test()
	defer func() { r.stderr = &strings.Builder{}; r.stderr.WriteString(errOut.String()) }()
	return Run(context.Background(), Env{IO: ios, Exec: r.exec}, Request{
		Repo:        repo,
		Base:        planRenderer(base),
		Next:        record(r.t, version),
		Theirs:      planRenderer(theirs),
		BaseLabel:   "base",
		TheirsLabel: "kit",
		Force:       force,
		Rerun:       "saaskit upgrade",
		beforeWrite: hook,
	})
}

// planRenderer renders any record to the same tree, so a test states the
// base and theirs of a transition directly.
type planRenderer map[string]string

func (p planRenderer) Render(context.Context, *generator.Record) (*generator.Plan, error) {
	return plan(p), nil
}

// failAfter returns a write hook that fails once k files are written.
func failAfter(k int) func(string) error {
	n := 0
	return func(path string) error {
		if n == k {
			return fmt.Errorf("interrupted before writing %s", path)
		}
		n++
		return nil
	}
}

func summaryLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "Summary: ") {
			return l
		}
	}
	return ""
}

func journalFile(root string) string { return filepath.Join(root, ".git", JournalName) }

// An upgrade interrupted after any number of writes is finished by running
// it again, without --force, and ends exactly where an uninterrupted one
// does: files already written (a conflict among them) are not merged again,
// and the record advances once, at the end.
func TestInterruptedUpgradeResumes(t *testing.T) {
	ref := gitRepo(t, resumeOurs)
	r := newRunner(t, ref)
	var conflict *ConflictError
	if err := r.run(resumeBase, resumeTheirs, "v2", false, nil); !errors.As(err, &conflict) || len(conflict.Paths) != 1 || conflict.Paths[0] != "b.txt" {
		t.Fatalf("uninterrupted upgrade: %v, want a conflict in b.txt", err)
	}
	want := snapshot(t, ref)
	wantSummary := summaryLine(r.stderr.String())
	if strings.Count(want["b.txt"], "<<<<<<< ") != 1 || want[generator.RecordFile] != string(marshal(t, record(t, "v2"))) {
		t.Fatalf("uninterrupted upgrade gave an unexpected tree: %q", want)
	}
	if _, err := os.Stat(journalFile(ref)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the journal outlived a completed upgrade: %v", err)
	}

	for k := 0; k < resumeWrites; k++ {
		t.Run(fmt.Sprintf("after %d writes", k), func(t *testing.T) {
			root := gitRepo(t, resumeOurs)
			r := newRunner(t, root)
			before := snapshot(t, root)
			err := r.run(resumeBase, resumeTheirs, "v2", false, failAfter(k))
			var interrupted *InterruptedError
			if !errors.As(err, &interrupted) || !strings.Contains(err.Error(), "run saaskit upgrade again to finish it") {
				t.Fatalf("interrupted upgrade: %v", err)
			}
			mid := snapshot(t, root)
			if mid[generator.RecordFile] != before[generator.RecordFile] {
				t.Errorf("the record advanced although the upgrade was interrupted:\n%s", mid[generator.RecordFile])
			}
			if _, err := os.Stat(journalFile(root)); err != nil {
				t.Fatalf("no journal after an interruption: %v", err)
			}

			// The same upgrade again, without --force, over the dirty tree.
			err = r.run(resumeBase, resumeTheirs, "v2", false, nil)
			if !errors.As(err, &conflict) || len(conflict.Paths) != 1 || conflict.Paths[0] != "b.txt" {
				t.Fatalf("rerun: %v, want the conflict in b.txt reported again", err)
			}
			if !strings.Contains(r.stderr.String(), "Finishing an interrupted upgrade") {
				t.Errorf("rerun did not say it finishes an interrupted upgrade:\n%s", r.stderr)
			}
			if got := summaryLine(r.stderr.String()); got != wantSummary {
				t.Errorf("rerun summary %q, uninterrupted %q", got, wantSummary)
			}
			sameTree(t, "rerun", snapshot(t, root), want)
			if _, err := os.Stat(journalFile(root)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the journal outlived the finished upgrade: %v", err)
			}

			// Finished: a further run starts from v2 and refuses the dirty
			// tree like any other upgrade.
			if err := r.run(resumeBase, resumeTheirs, "v2", false, nil); err == nil || !strings.Contains(err.Error(), "uncommitted changes") {
				t.Errorf("after finishing, an upgrade over the dirty tree gave %v", err)
			}
		})
	}
}

// A rerun is refused when the tree holds other changes than the
// interrupted upgrade's, or when the journal is for another target.
func TestInterruptedUpgradeRefusals(t *testing.T) {
	setup := func(t *testing.T) (*runner, map[string]string) {
		root := gitRepo(t, resumeOurs)
		r := newRunner(t, root)
		if err := r.run(resumeBase, resumeTheirs, "v2", false, failAfter(3)); err == nil {
			t.Fatal("the interrupted upgrade succeeded")
		}
		return r, snapshot(t, root)
	}

	t.Run("another target", func(t *testing.T) {
		r, mid := setup(t)
		err := r.run(resumeBase, resumeTheirs, "v3", false, nil)
		var mismatch *JournalMismatchError
		if !errors.As(err, &mismatch) {
			t.Fatalf("rerun to v3: %v, want a JournalMismatchError", err)
		}
		for _, w := range []string{"an interrupted upgrade to saaskit v2 with name=x is not finished", journalFile(r.root), "run saaskit upgrade again", "git restore"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("message lacks %q:\n%v", w, err)
			}
		}
		// --force does not override it either: it is another upgrade's.
		if err := r.run(resumeBase, resumeTheirs, "v3", true, nil); !errors.As(err, &mismatch) {
			t.Errorf("rerun to v3 with --force: %v", err)
		}
		sameTree(t, "after the refusal", snapshot(t, r.root), mid)
	})

	t.Run("other uncommitted work", func(t *testing.T) {
		r, _ := setup(t)
		if err := os.WriteFile(filepath.Join(r.root, "notes.txt"), []byte("mine\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		err := r.run(resumeBase, resumeTheirs, "v2", false, nil)
		if err == nil || !strings.Contains(err.Error(), "other uncommitted changes") || !strings.Contains(err.Error(), "notes.txt") {
			t.Fatalf("rerun with an unrelated new file: %v", err)
		}
		// With --force it finishes.
		var conflict *ConflictError
		if err := r.run(resumeBase, resumeTheirs, "v2", true, nil); !errors.As(err, &conflict) {
			t.Fatalf("rerun with --force: %v", err)
		}
		if got := snapshot(t, r.root)["b.txt"]; strings.Count(got, "<<<<<<< ") != 1 {
			t.Errorf("b.txt after the forced rerun:\n%s", got)
		}
	})

	t.Run("a temporary file of a write cut short", func(t *testing.T) {
		r, _ := setup(t)
		// What WriteFileAtomic leaves when the process dies mid-write.
		leftover := filepath.Join(r.root, "sub", ".f.txt.saaskit-123456")
		if err := os.WriteFile(leftover, []byte("F"), 0o644); err != nil {
			t.Fatal(err)
		}
		var conflict *ConflictError
		if err := r.run(resumeBase, resumeTheirs, "v2", false, nil); !errors.As(err, &conflict) {
			t.Fatalf("rerun: %v", err)
		}
		if _, err := os.Stat(leftover); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("the leftover temporary file is still there: %v", err)
		}
	})

	t.Run("a written file edited since", func(t *testing.T) {
		r, _ := setup(t)
		// a.txt was written (first of the three); edit it again.
		if err := os.WriteFile(filepath.Join(r.root, "a.txt"), []byte("edited after\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		err := r.run(resumeBase, resumeTheirs, "v2", false, nil)
		if err == nil || !strings.Contains(err.Error(), "a.txt (changed since the interrupted upgrade wrote it)") {
			t.Fatalf("rerun over an edited file: %v", err)
		}
	})
}

// When the merged go.mod cannot be made consistent, the upgrade fails with
// what to do, the record stays, and once the cause is fixed (here: the
// module proxy becomes reachable) the same command finishes the upgrade.
func TestModuleFilesThatCannotBeTidied(t *testing.T) {
	const gomod = "module example.com/x\n\ngo 1.26.0\n"
	files := map[string]string{"go.mod": gomod, "main.go": "package main\n\nfunc main() {}\n"}
	theirs := map[string]string{
		"go.mod":  gomod + "\nrequire example.invalid/missing v1.0.0\n",
		"main.go": "package main\n\nimport \"example.invalid/missing\"\n\nfunc main() { missing.Hello() }\n",
	}
	root := gitRepo(t, files)
	r := newRunner(t, root)
	proxy := "off"
	r.goOffline(t, &proxy)
	recBefore := snapshot(t, root)[generator.RecordFile]

	err := r.run(files, theirs, "v2", false, nil)
	var modErr *ModulesError
	if !errors.As(err, &modErr) {
		t.Fatalf("upgrade with an unresolvable requirement: %v, want a ModulesError", err)
	}
	for _, w := range []string{"go mod tidy", "example.invalid/missing", "run saaskit upgrade again", ".saaskit.yaml still names the old version"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("message lacks %q:\n%v", w, err)
		}
	}
	after := snapshot(t, root)
	if after[generator.RecordFile] != recBefore {
		t.Errorf("the record advanced although go.mod is inconsistent:\n%s", after[generator.RecordFile])
	}
	if !strings.Contains(after["go.mod"], "example.invalid/missing v1.0.0") || !strings.Contains(after["main.go"], "missing.Hello()") {
		t.Errorf("the merge was not written:\n%s", after)
	}

	// The module becomes reachable; the same command finishes.
	proxy = serveModule(t, "example.invalid/missing", "v1.0.0", map[string]string{
		"go.mod":     "module example.invalid/missing\n\ngo 1.26.0\n",
		"missing.go": "package missing\n\n// Hello does nothing.\nfunc Hello() {}\n",
	})
	if err := r.run(files, theirs, "v2", false, nil); err != nil {
		t.Fatalf("rerun once the module is reachable: %v\n%s", err, r.stderr)
	}
	final := snapshot(t, root)
	if final[generator.RecordFile] != string(marshal(t, record(t, "v2"))) {
		t.Errorf("the record did not advance:\n%s", final[generator.RecordFile])
	}
	if !strings.Contains(final["go.sum"], "example.invalid/missing v1.0.0 h1:") {
		t.Errorf("go.mod was not tidied: go.sum =\n%s", final["go.sum"])
	}
	if _, err := os.Stat(journalFile(root)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the journal outlived the finished upgrade: %v", err)
	}
}

// serveModule serves one module version, made of files, from a new
// file-based GOPROXY and returns its URL.
func serveModule(t *testing.T, path, version string, files map[string]string) string {
	t.Helper()
	url, err := testenv.ServeModule(t.TempDir(), path, version, writeTree(t, files))
	if err != nil {
		t.Fatal(err)
	}
	return url
}

// goOffline makes r's go commands use *proxy as GOPROXY (read at each
// call, so a test can make a module reachable half-way) and a module cache
// of their own.
func (r *runner) goOffline(t *testing.T, proxy *string) {
	cache := filepath.Join(t.TempDir(), "modcache")
	r.exec = func(ctx context.Context, dir string, env []string, name string, args ...string) ([]byte, error) {
		env = append(env, "GOFLAGS=-mod=mod -modcacherw", "GOPROXY="+*proxy, "GOSUMDB=off", "GOTOOLCHAIN=local", "GOMODCACHE="+cache)
		return cmdutil.Exec(ctx, dir, env, name, args...)
	}
}

// tools.mod, the modfile `make sqlc` runs sqlc from, is made consistent on
// its own: an unresolvable tool fails the upgrade the same way, and once it
// resolves, tools.sum gets what building it needs.
func TestToolsModFileMadeConsistent(t *testing.T) {
	const gomod = "module example.com/x\n\ngo 1.26.0\n"
	const toolsmod = "module example.com/x\n\ngo 1.26.0\n"
	files := map[string]string{"go.mod": gomod, "tools.mod": toolsmod, "main.go": "package main\n\nfunc main() {}\n"}
	theirs := map[string]string{
		"go.mod":    gomod,
		"tools.mod": toolsmod + "\ntool example.invalid/tool\n\nrequire example.invalid/tool v1.0.0\n",
		"main.go":   "package main\n\nfunc main() {}\n",
	}
	root := gitRepo(t, files)
	r := newRunner(t, root)
	proxy := "off"
	r.goOffline(t, &proxy)

	err := r.run(files, theirs, "v2", false, nil)
	var modErr *ModulesError
	if !errors.As(err, &modErr) || !strings.Contains(err.Error(), "go list -modfile=tools.mod -deps tool") || !strings.Contains(err.Error(), "example.invalid/tool") {
		t.Fatalf("upgrade with an unresolvable tool: %v, want a ModulesError naming tools.mod and the tool", err)
	}
	if got := snapshot(t, root)[generator.RecordFile]; got != string(marshal(t, record(t, "v1"))) {
		t.Errorf("the record advanced:\n%s", got)
	}

	proxy = serveModule(t, "example.invalid/tool", "v1.0.0", map[string]string{
		"go.mod":  "module example.invalid/tool\n\ngo 1.26.0\n",
		"main.go": "package main\n\nfunc main() {}\n",
	})
	if err := r.run(files, theirs, "v2", false, nil); err != nil {
		t.Fatalf("rerun once the tool is reachable: %v\n%s", err, r.stderr)
	}
	final := snapshot(t, root)
	if !strings.Contains(final["tools.sum"], "example.invalid/tool v1.0.0 h1:") {
		t.Errorf("tools.sum lacks the tool's checksum:\n%s", final["tools.sum"])
	}
	if final[generator.RecordFile] != string(marshal(t, record(t, "v2"))) {
		t.Errorf("the record did not advance:\n%s", final[generator.RecordFile])
	}
}

// Two apps in one git repository keep journals of their own: an upgrade
// interrupted in one never blocks (or is finished by) the other.
func TestAppsInOneRepositoryKeepSeparateJournals(t *testing.T) {
	root := t.TempDir()
	for _, dir := range []string{"api", "billing"} {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("git", "-C", root, "init", "-q").CombinedOutput(); err != nil {
		t.Fatalf("git init: %v\n%s", err, out)
	}
	env := Env{Exec: cmdutil.Exec}
	ctx := context.Background()
	top := journalPath(ctx, env, root)
	api := journalPath(ctx, env, filepath.Join(root, "api"))
	billing := journalPath(ctx, env, filepath.Join(root, "billing"))
	if top != filepath.Join(root, ".git", JournalName) {
		t.Errorf("the repository's own app: journal %s, want .git/%s", top, JournalName)
	}
	if api == billing || api == top || billing == top {
		t.Errorf("apps share a journal: top %s, api %s, billing %s", top, api, billing)
	}
	for _, p := range []string{api, billing} {
		if filepath.Dir(p) != filepath.Join(root, ".git") {
			t.Errorf("journal %s is not in the git directory", p)
		}
	}
}

// A rerun after the module files could not be made consistent accepts
// module files the plan did not write (tidy may have rewritten them before
// failing), and still refuses other uncommitted work.
func TestResumeAcceptsModuleFilesTidyTouched(t *testing.T) {
	root := gitRepo(t, map[string]string{"go.mod": "module example.com/app\n", "go.sum": "", "main.go": "package main\n"})
	repo := &Repo{Root: root}
	env := Env{Exec: cmdutil.Exec}
	journal := &Journal{Files: []JournalEntry{{Path: "go.mod", Action: "update"}}}
	if err := os.WriteFile(filepath.Join(root, "go.sum"), []byte("example.com/dep v1.0.0 h1:x=\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := repo.checkResumable(context.Background(), env, journal); err != nil {
		t.Fatalf("go.sum rewritten by tidy refused: %v", err)
	}
	if err := os.WriteFile(filepath.Join(root, "main.go"), []byte("package main // edited\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := repo.checkResumable(context.Background(), env, journal); err == nil || !strings.Contains(err.Error(), "main.go") {
		t.Fatalf("other uncommitted work not refused: %v", err)
	}
}

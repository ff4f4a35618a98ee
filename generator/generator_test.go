package generator

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

const testBlueprint = `
name: demo
templates: demo
questions:
  - name: name
    title: App name
    validate: appname
  - name: module
    title: Module
    default: "example.com/{{.name}}"
    validate: module
  - name: broker
    title: Broker
    choices:
      - {value: postgres, label: Postgres}
      - value: redis
        label: Redis
        traits: [outbox]
        services: [{name: redis, env: REDIS_URL, test_env: TEST_REDIS_URL}]
files:
  - when: {broker: [redis]}
    paths: [internal/redis/**]
  - has: [outbox]
    paths: [internal/outbox.txt.tmpl]
delims:
  - paths: [.github/**]
    left: "[["
    right: "]]"
traits:
  outbox: jobs leave through an outbox
services:
  - {name: postgres, env: DATABASE_URL, test_env: TEST_DATABASE_URL}
modules:
  - {path: example.org/dep, version: v1.0.0}
  - {path: example.org/redis, version: v1.2.0, when: {broker: [redis]}}
tools:
  - {path: example.org/tool, version: v0.1.0, package: example.org/tool/cmd/tool}
`

// Lock names of the test blueprint: a hash of the sorted direct module
// paths each answer set needs.
var (
	pgLock    = lockName("example.org/dep")
	redisLock = lockName("example.org/dep", "example.org/redis")
)

func lockName(sortedPaths ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(sortedPaths, "\n")))
	return "mods-" + hex.EncodeToString(sum[:6])
}

func testFS() (blueprints, tree fstest.MapFS) {
	blueprints = fstest.MapFS{
		"demo.yaml":                        {Data: []byte(testBlueprint)},
		"demo/locks/" + pgLock + ".mod":    {Data: []byte("module lockapp\n\ngo 1.26.0\n\nrequire example.org/dep v1.0.0\n\nrequire example.org/indirect v0.3.0 // indirect\n")},
		"demo/locks/" + pgLock + ".sum":    {Data: []byte("example.org/dep v1.0.0 h1:pg=\n")},
		"demo/locks/" + redisLock + ".mod": {Data: []byte("module lockapp\n\ngo 1.26.0\n\nrequire (\n\texample.org/dep v1.0.0\n\texample.org/redis v1.2.0\n)\n")},
		"demo/locks/" + redisLock + ".sum": {Data: []byte("example.org/redis v1.2.0 h1:r=\n")},
		"demo/locks/tools.mod":             {Data: []byte("module example.com/tools\n\ngo 1.26.0\n\ntool example.org/tool/cmd/tool\n\nrequire example.org/tool v0.1.0\n")},
		"demo/locks/tools.sum":             {Data: []byte("example.org/tool v0.1.0 h1:t=\n")},
		"demo/locks/stale-extra.txt":       {Data: []byte("ignored")},
	}
	tree = fstest.MapFS{
		"_partials/header.tmpl": {Data: []byte(`{{define "header"}}// Package {{.Name | goident}} is generated.{{end}}`)},
		"cmd/__name__/main.go.tmpl": {Data: []byte(`{{template "header" .}}
package main

import (
	"fmt"
	"os"
	"strings"

	"{{.Module}}/internal/app"
)

func main() { fmt.Println(app.Name); _ = os.Args }
`)},
		"internal/app/app.go.tmpl":      {Data: []byte("package app\n\n// Name is the app's name.\nconst Name = {{quote .Name}}\n")},
		"internal/redis/redis.go.tmpl":  {Data: []byte("package redis\n\n// URL is where Redis listens.\nconst URL = \"redis://\"\n")},
		"internal/outbox.txt.tmpl":      {Data: []byte("{{if .Has \"outbox\"}}// outbox{{end}}\n")},
		".github/workflows/ci.yml.tmpl": {Data: []byte("name: [[.Name]]\non: push\nenv:\n  X: ${{ github.sha }}\n")},
		"README.md":                     {Data: []byte("Verbatim {{.Name}}\n")},
	}
	return blueprints, tree
}

func loadTest(t *testing.T) (*Blueprint, fstest.MapFS) {
	t.Helper()
	bps, tree := testFS()
	bp, err := LoadBlueprint(bps, "demo")
	if err != nil {
		t.Fatalf("LoadBlueprint: %v", err)
	}
	return bp, tree
}

func answers(broker string) Answers {
	return Answers{"name": "my-app", "module": "example.com/my-app", "broker": broker}
}

func TestRenderAppliesBlueprint(t *testing.T) {
	t.Parallel()
	bp, tree := loadTest(t)

	plan, err := Render(bp, tree, Input{Answers: answers("postgres"), KitVersion: "v0.1.0"})
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	var paths []string
	for _, f := range plan.Files {
		paths = append(paths, f.Path)
	}
	want := []string{".github/workflows/ci.yml", ".saaskit.yaml", "README.md", "cmd/my-app/main.go", "go.mod", "go.sum", "internal/app/app.go", "tools.mod", "tools.sum"}
	if strings.Join(paths, " ") != strings.Join(want, " ") {
		t.Fatalf("files:\n got %v\nwant %v", paths, want)
	}

	main := string(plan.File("cmd/my-app/main.go").Content)
	wantMain := `// Package myapp is generated.
package main

import (
	"fmt"
	"os"

	"example.com/my-app/internal/app"
)

func main() { fmt.Println(app.Name); _ = os.Args }
`
	if main != wantMain {
		t.Errorf("main.go: unused import not pruned or local import not grouped last:\n%s", main)
	}
	if got := string(plan.File("README.md").Content); got != "Verbatim {{.Name}}\n" {
		t.Errorf("non-.tmpl file was not copied verbatim: %q", got)
	}
	if got := string(plan.File(".github/workflows/ci.yml").Content); got != "name: my-app\non: push\nenv:\n  X: ${{ github.sha }}\n" {
		t.Errorf("delimiter rule not applied: %q", got)
	}
	mod := string(plan.File("go.mod").Content)
	if !strings.HasPrefix(mod, "module example.com/my-app\n") || !strings.Contains(mod, "example.org/indirect v0.3.0 // indirect") {
		t.Errorf("go.mod not taken from the postgres lock with the module set:\n%s", mod)
	}
	if !strings.HasPrefix(string(plan.File("tools.mod").Content), "module example.com/my-app\n") {
		t.Errorf("tools.mod module not set:\n%s", plan.File("tools.mod").Content)
	}

	redis, err := Render(bp, tree, Input{Answers: answers("redis"), KitVersion: "v0.1.0"})
	if err != nil {
		t.Fatalf("Render redis: %v", err)
	}
	if redis.File("internal/redis/redis.go") == nil {
		t.Error("internal/redis/redis.go missing although broker=redis")
	}
	if f := redis.File("internal/outbox.txt"); f == nil || string(f.Content) != "// outbox\n" {
		t.Errorf("internal/outbox.txt, claimed by the outbox trait redis has, not rendered for it: %v", f)
	}
	if plan.File("internal/outbox.txt") != nil {
		t.Error("internal/outbox.txt rendered for postgres, which has no outbox trait")
	}
	if got := string(redis.File("go.sum").Content); got != "example.org/redis v1.2.0 h1:r=\n" {
		t.Errorf("go.sum not from the redis lock: %q", got)
	}
}

func TestRenderIsDeterministic(t *testing.T) {
	t.Parallel()
	bp, tree := loadTest(t)
	in := Input{Answers: answers("redis"), KitVersion: "v0.1.0"}
	a, err := Render(bp, tree, in)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		b, err := Render(bp, tree, in)
		if err != nil {
			t.Fatal(err)
		}
		if len(a.Files) != len(b.Files) {
			t.Fatalf("file count differs: %d vs %d", len(a.Files), len(b.Files))
		}
		for i := range a.Files {
			if a.Files[i].Path != b.Files[i].Path || !bytes.Equal(a.Files[i].Content, b.Files[i].Content) {
				t.Fatalf("render differs at %s", a.Files[i].Path)
			}
		}
	}
}

func TestRenderErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		edit    func(bps, tree fstest.MapFS)
		answers Answers
		want    []string
	}{
		{
			name: "invalid Go names template and output",
			edit: func(_, tree fstest.MapFS) {
				tree["internal/app/app.go.tmpl"] = &fstest.MapFile{Data: []byte("package app\n\nfunc {{.Name}}() {}\n")}
			},
			answers: answers("postgres"),
			want:    []string{"template internal/app/app.go.tmpl rendered invalid Go in internal/app/app.go", "   3  func my-app() {}"},
		},
		{
			name: "missing key",
			edit: func(_, tree fstest.MapFS) {
				tree["x.txt.tmpl"] = &fstest.MapFile{Data: []byte("{{.Nope}}")}
			},
			answers: answers("postgres"),
			want:    []string{"template x.txt.tmpl", "Nope"},
		},
		{
			name:    "unknown choice",
			answers: answers("kafka"),
			want:    []string{`--broker "kafka": must be one of postgres, redis`},
		},
		{
			name:    "bad module",
			answers: Answers{"name": "app", "module": "bad path!", "broker": "redis"},
			want:    []string{`--module "bad path!": not a valid Go module path`},
		},
		{
			name:    "missing and unknown answers",
			answers: Answers{"name": "app", "module": "example.com/app", "colour": "red"},
			want:    []string{"--broker: no answer given", `unknown option "colour"`},
		},
		{
			name: "no lock for the module set",
			edit: func(bps, _ fstest.MapFS) {
				delete(bps, "demo/locks/"+redisLock+".mod")
			},
			answers: answers("redis"),
			want:    []string{"no lock " + redisLock, "example.org/dep, example.org/redis", "the lock is stale", "go generate ./generator"},
		},
		{
			name: "stale lock",
			edit: func(bps, _ fstest.MapFS) {
				bps["demo/locks/"+redisLock+".mod"] = &fstest.MapFile{Data: []byte("module lockapp\n\ngo 1.26.0\n\nrequire example.org/dep v1.0.1\n")}
			},
			answers: answers("redis"),
			want:    []string{"lock " + redisLock + ".mod is stale", "example.org/dep at v1.0.1, blueprint pins v1.0.0", "example.org/redis not required", "go generate ./generator"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bps, tree := testFS()
			if tt.edit != nil {
				tt.edit(bps, tree)
			}
			bp, err := LoadBlueprint(bps, "demo")
			if err != nil {
				t.Fatal(err)
			}
			_, err = Render(bp, tree, Input{Answers: tt.answers, KitVersion: "v0.1.0"})
			if err == nil {
				t.Fatal("Render succeeded; want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestLoadBlueprintChecksManifest(t *testing.T) {
	t.Parallel()
	const manifest = `
name: x
questions:
  - {name: a, validate: nosuch}
  - name: b
    choices: [{value: one, traits: [outbox, nosuchtrait]}]
files:
  - when: {b: [two]}
    paths: [x]
  - when: {c: [one]}
    paths: [y]
  - has: [nosuchgrouptrait]
    paths: [z]
traits: {outbox: x}
`
	bad := fstest.MapFS{"x.yaml": {Data: []byte(manifest + "colour: red\n")}}
	_, err := LoadBlueprint(bad, "x")
	if err == nil || !strings.Contains(err.Error(), "field colour not found") {
		t.Fatalf("unknown field not refused: %v", err)
	}
	bad["x.yaml"] = &fstest.MapFile{Data: []byte(manifest)}
	_, err = LoadBlueprint(bad, "x")
	for _, w := range []string{`unknown validator "nosuch"`, `"two" is not a value of "b"`, `unknown question "c"`, `unknown trait "nosuchtrait"`, `files[2]: unknown trait "nosuchgrouptrait"`} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error does not mention %q: %v", w, err)
		}
	}
}

func TestCompleteUsesEarlierAnswers(t *testing.T) {
	t.Parallel()
	bp, _ := loadTest(t)
	got, err := bp.Complete(Answers{"name": "shop"})
	if err != nil {
		t.Fatal(err)
	}
	if got["module"] != "example.com/shop" || got["broker"] != "postgres" {
		t.Errorf("Complete = %v", got)
	}
}

func TestValidateAppName(t *testing.T) {
	t.Parallel()
	for name, ok := range map[string]bool{
		"acme": true, "my-app": true, "a1": true, "app2go": true,
		"": false, "A": false, "Acme": false, "1app": false, "app-": false, "my--app": false,
		"my_app": false, "my.app": false, "../x": false, "a b": false, strings.Repeat("a", 41): false,
		"go": false, "cmd": false, "internal": false, "make": false, "gopher": true,
	} {
		if err := ValidateAppName(name); (err == nil) != ok {
			t.Errorf("ValidateAppName(%q) = %v, want ok=%v", name, err, ok)
		}
	}
}

func TestValidateModulePath(t *testing.T) {
	t.Parallel()
	for p, ok := range map[string]bool{
		"example.com/acme": true, "github.com/acme/api/v2": true, "acme": true,
		"": false, "/abs": false, "a//b": false, "has space/x": false, "x/../y": false, "example.com/acme/": false,
	} {
		if err := ValidateModulePath(p); (err == nil) != ok {
			t.Errorf("ValidateModulePath(%q) = %v, want ok=%v", p, err, ok)
		}
	}
}

func TestRecordRoundTrip(t *testing.T) {
	t.Parallel()
	bp, _ := loadTest(t)
	rec := NewRecord(bp.Name, "v1.2.3", answers("redis"))
	raw, err := rec.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseRecord(raw)
	if err != nil {
		t.Fatalf("ParseRecord: %v\n%s", err, raw)
	}
	if got.KitVersion != "v1.2.3" || got.Blueprint != "demo" || got.Answers["broker"] != "redis" || got.Answers["module"] != "example.com/my-app" {
		t.Errorf("round trip lost data: %+v", got)
	}
	if _, err := ParseRecord([]byte("schema: 99\nkit_version: v9\nblueprint: app\n")); err == nil || !strings.Contains(err.Error(), "upgrade saaskit") {
		t.Errorf("newer schema not refused: %v", err)
	}
	if _, err := ParseRecord([]byte("schema: 1\nkit_version: v1\nblueprint: app\nextra: 1\n")); err == nil {
		t.Error("unknown field not refused")
	}
}

// Without resource templates a record's resources render nothing, but the render
// carries them into its record unchanged, so no transition drops them; and
// the plan knows the blueprint's migrations without the blueprint.
func TestRenderCarriesResources(t *testing.T) {
	t.Parallel()
	bp, tree := loadTest(t)
	bp.Migrations = []string{"internal/**/*.go"}
	resources := []Resource{{Name: "invoices", Fields: "number:string"}, {Name: "posts", Fields: "title:string"}}
	plan, err := Render(bp, tree, Input{Answers: answers("postgres"), KitVersion: "v0.1.0", Resources: resources})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := Render(bp, tree, Input{Answers: answers("postgres"), KitVersion: "v0.1.0"})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Files) != len(plain.Files) {
		t.Errorf("resources added files: %d, without them %d", len(plan.Files), len(plain.Files))
	}
	rec, err := ParseRecord(plan.File(RecordFile).Content)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Resources) != 2 || rec.Resources[0] != resources[0] || rec.Resources[1] != resources[1] {
		t.Errorf("record resources = %v, want %v", rec.Resources, resources)
	}
	if !bytes.Contains(plain.File(RecordFile).Content, []byte("resources: []\n")) {
		t.Errorf("a record without resources lost its empty list:\n%s", plain.File(RecordFile).Content)
	}
	if !plan.IsMigration("internal/app/app.go") || plan.IsMigration("README.md") || (&Plan{}).IsMigration("internal/app/app.go") {
		t.Errorf("IsMigration does not follow the blueprint's migrations: plan has %v", plan.Migrations)
	}
}

func TestWrite(t *testing.T) {
	t.Parallel()
	plan := &Plan{Files: []File{{Path: "a.txt", Content: []byte("a"), Mode: 0o644}, {Path: "d/b.sh", Content: []byte("b"), Mode: 0o755}}}

	t.Run("new directory", func(t *testing.T) {
		t.Parallel()
		dir := filepath.Join(t.TempDir(), "repo")
		if err := Write(plan, dir, WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		assertFile(t, filepath.Join(dir, "d/b.sh"), "b", 0o755)
		assertOnly(t, filepath.Dir(dir), "repo")
		if info, err := os.Stat(dir); err != nil || info.Mode().Perm() != 0o755 {
			t.Errorf("new repository directory mode = %v, want 0755", info.Mode().Perm())
		}
	})
	t.Run("empty directory", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		if err := Write(plan, dir, WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		assertFile(t, filepath.Join(dir, "a.txt"), "a", 0o644)
	})
	t.Run("symbolic link to an empty directory", func(t *testing.T) {
		t.Parallel()
		parent := t.TempDir()
		target := filepath.Join(parent, "target")
		if err := os.Mkdir(target, 0o755); err != nil {
			t.Fatal(err)
		}
		link := filepath.Join(parent, "link")
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		if err := Write(plan, link, WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		if info, err := os.Lstat(link); err != nil || info.Mode()&os.ModeSymlink == 0 {
			t.Fatalf("the link was replaced: %v, %v", info, err)
		}
		assertFile(t, filepath.Join(target, "a.txt"), "a", 0o644)
		assertOnly(t, parent, "link", "target")
	})
	t.Run("non-empty refused, then forced", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		mustWrite(t, filepath.Join(dir, "keep.txt"), "mine")
		mustWrite(t, filepath.Join(dir, "a.txt"), "old")
		err := Write(plan, dir, WriteOptions{})
		if err == nil || !strings.Contains(err.Error(), "not empty (pass --force") {
			t.Fatalf("non-empty target not refused: %v", err)
		}
		assertFile(t, filepath.Join(dir, "a.txt"), "old", 0o644)
		if err := Write(plan, dir, WriteOptions{Force: true}); err != nil {
			t.Fatal(err)
		}
		assertFile(t, filepath.Join(dir, "a.txt"), "a", 0o644)
		assertFile(t, filepath.Join(dir, "keep.txt"), "mine", 0o644)
		assertOnly(t, filepath.Dir(dir), filepath.Base(dir))
	})
	t.Run("target is a file", func(t *testing.T) {
		t.Parallel()
		file := filepath.Join(t.TempDir(), "f")
		mustWrite(t, file, "x")
		var te *TargetError
		if err := Write(plan, file, WriteOptions{Force: true}); !errors.As(err, &te) || !strings.Contains(err.Error(), "is a file") {
			t.Fatalf("want TargetError about a file, got %v", err)
		}
	})
	t.Run("path outside the root", func(t *testing.T) {
		t.Parallel()
		parent := t.TempDir()
		dir := filepath.Join(parent, "repo")
		for _, p := range []string{"../escape.txt", "/etc/passwd", "a/../../x"} {
			bad := &Plan{Files: []File{{Path: "ok.txt", Content: []byte("ok")}, {Path: p, Content: []byte("x")}}}
			if err := Write(bad, dir, WriteOptions{}); err == nil || !strings.Contains(err.Error(), "outside the target directory") {
				t.Errorf("path %q not refused: %v", p, err)
			}
		}
		assertOnly(t, parent)
	})
	t.Run("failure part-way leaves nothing", func(t *testing.T) {
		t.Parallel()
		// The second file needs "a.txt" to be a directory: writing fails
		// after the first file is already on disk in the temporary tree.
		broken := &Plan{Files: []File{{Path: "a.txt", Content: []byte("a")}, {Path: "a.txt/b", Content: []byte("b")}}}
		parent := t.TempDir()
		if err := Write(broken, filepath.Join(parent, "repo"), WriteOptions{}); err == nil {
			t.Fatal("impossible plan written")
		}
		assertOnly(t, parent)

		empty := filepath.Join(parent, "empty")
		if err := os.Mkdir(empty, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := Write(broken, empty, WriteOptions{}); err == nil {
			t.Fatal("impossible plan written")
		}
		assertOnly(t, parent, "empty")
		assertOnly(t, empty)
	})
	t.Run("unwritable parent", func(t *testing.T) {
		t.Parallel()
		if os.Geteuid() == 0 {
			t.Skip("running as root: permission bits do not stop root; the testscript covers a missing parent and /proc/sys instead")
		}
		parent := t.TempDir()
		if err := os.Chmod(parent, 0o555); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(parent, 0o755)
		if err := Write(plan, filepath.Join(parent, "repo"), WriteOptions{}); err == nil || !strings.Contains(err.Error(), "cannot write in") {
			t.Fatalf("unwritable parent not reported: %v", err)
		}
	})
}

func mustWrite(t *testing.T, p, content string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func assertFile(t *testing.T, p, content string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != content {
		t.Errorf("%s = %q, want %q", p, b, content)
	}
	info, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != mode {
		t.Errorf("%s mode = %v, want %v", p, info.Mode().Perm(), mode)
	}
}

// assertOnly checks dir holds exactly the named entries: no temporary
// directories left behind.
func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Errorf("%s holds %v, want %v", dir, got, names)
	}
}

func TestMatchPath(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		pattern, name string
		want          bool
	}{
		{"internal/redis/**", "internal/redis/redis.go.tmpl", true},
		{"internal/redis/**", "internal/redis/sub/x.go", true},
		{"internal/redis/**", "internal/redisx/x.go", false},
		{"internal/**/*migrations/*.sql", "internal/postgres/migrations/00001_a.sql", true},
		{"internal/**/*migrations/*.sql", "internal/postgres/tenantmigrations/00001_a.sql", true},
		{"internal/**/*migrations/*.sql", "internal/postgres/db/tenants.sql", false},
		{"internal/**/*migrations/*.sql", "internal/migrations/x.sql", true},
		{".github/**", ".github/workflows/ci.yml.tmpl", true},
		{"*.md", "README.md", true},
		{"*.md", "docs/README.md", false},
	} {
		if got := matchPath(tt.pattern, tt.name); got != tt.want {
			t.Errorf("matchPath(%q, %q) = %v, want %v", tt.pattern, tt.name, got, tt.want)
		}
	}
}

func TestTraitsAndServices(t *testing.T) {
	t.Parallel()
	bps, _ := testFS()
	bp, err := LoadBlueprint(bps, "demo")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		broker   string
		outbox   bool
		services []string
	}{
		{"postgres", false, []string{"TEST_DATABASE_URL"}},
		{"redis", true, []string{"TEST_DATABASE_URL", "TEST_REDIS_URL"}},
	} {
		d := NewData(bp, answers(tt.broker), "v0.1.0")
		got, err := d.Has("outbox")
		if err != nil || got != tt.outbox {
			t.Errorf("%s: Has(outbox) = %v, %v; want %v", tt.broker, got, err, tt.outbox)
		}
		var envs []string
		for _, s := range bp.ServicesOf(answers(tt.broker)) {
			envs = append(envs, s.TestEnv)
		}
		if strings.Join(envs, " ") != strings.Join(tt.services, " ") {
			t.Errorf("%s: services' test variables %v, want %v", tt.broker, envs, tt.services)
		}
	}
	if _, err := NewData(bp, answers("redis"), "").Has("outbx"); err == nil || !strings.Contains(err.Error(), `unknown trait "outbx"`) {
		t.Errorf("a misspelt trait is not an error: %v", err)
	}
	if n := len(bp.AllServices()); n != 2 {
		t.Errorf("AllServices lists %d services, want 2", n)
	}
}

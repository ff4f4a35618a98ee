package smoke

import (
	"crypto/sha256"
	"encoding/hex"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/saaskit/saaskit/generator"
	"github.com/saaskit/saaskit/internal/kit"
	"github.com/saaskit/saaskit/internal/testenv"
)

// TestEveryCombinationCompiles type-checks (go vet, tests included) every
// option combination whose Go code differs from the smoke cases'.
// Combinations that differ in no Go code give identical trees, which are
// checked once; the smoke cases are built and tested in TestGeneratedRepos.
func TestEveryCombinationCompiles(t *testing.T) {
	testenv.Slow(t, "vets every option combination")
	bp, _, err := kit.Load(kit.AppBlueprint)
	if err != nil {
		t.Fatal(err)
	}
	base := generator.Answers{"name": "combo", "module": "example.com/combo"}
	render := func(a generator.Answers) *generator.Plan {
		t.Helper()
		plan, err := kit.Renderer{}.Render(t.Context(), generator.NewRecord(bp.Name, "v0.0.0-smoke", a))
		if err != nil {
			t.Fatalf("%v: %v", a, err)
		}
		return plan
	}

	covered := map[string]bool{}
	for _, tc := range cases(t) {
		a := generator.Answers{}
		for k, v := range tc.Answers {
			a[k] = v
		}
		a["name"], a["module"] = base["name"], base["module"]
		covered[goTreeKey(render(a))] = true
	}
	combos := kit.Combinations(bp, base)
	checked := 0
	for _, a := range combos {
		plan := render(a)
		key := goTreeKey(plan)
		if covered[key] {
			continue
		}
		covered[key] = true
		checked++
		t.Run(comboName(bp, a), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), base["name"])
			if err := generator.Write(plan, dir, generator.WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			run(t, dir, nil, "go", "vet", "./...")
		})
	}
	t.Logf("%d combinations: %d distinct Go trees vetted here, the rest are the smoke cases' or identical to a vetted one", len(combos), checked)
}

// goTreeKey identifies the Go code of a plan: Go files and module files.
func goTreeKey(plan *generator.Plan) string {
	h := sha256.New()
	files := slices.Clone(plan.Files)
	slices.SortFunc(files, func(a, b generator.File) int { return strings.Compare(a.Path, b.Path) })
	for _, f := range files {
		if base := path.Base(f.Path); !strings.HasSuffix(base, ".go") && base != "go.mod" && base != "go.sum" {
			continue
		}
		h.Write([]byte(f.Path + "\x00"))
		h.Write(f.Content)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// comboName names a combination by its choices, e.g. "schema-redis-none-websocket".
func comboName(bp *generator.Blueprint, a generator.Answers) string {
	var parts []string
	for _, q := range bp.Questions {
		if len(q.Choices) > 0 {
			parts = append(parts, a[q.Name])
		}
	}
	return strings.Join(parts, "-")
}

// TestGoldenTreesCompile vets the golden trees (testdata/golden/*) as the
// modules they are, so a reviewed golden diff is also known to compile.
func TestGoldenTreesCompile(t *testing.T) {
	testenv.Slow(t, "vets the golden trees")
	dirs, err := filepath.Glob(filepath.Join("..", "..", "testdata", "golden", "*", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if want := len(cases(t)); len(dirs) != want {
		t.Fatalf("found %d golden trees with a go.mod and %d golden records; run go test ./internal/kit -run TestGolden -update", len(dirs), want)
	}
	for _, mod := range dirs {
		dir := filepath.Dir(mod)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			run(t, dir, nil, "go", "vet", "./...")
		})
	}
}

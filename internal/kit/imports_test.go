package kit

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path"
	"strconv"
	"strings"
	"testing"

	"github.com/saaskit/saaskit/generator"
)

// The generator formats Go without goimports' import pruning (which asks
// the go command for package names, file by file, and tripled render time);
// it drops unused standard-library imports itself, and every other import
// must be exactly what each option combination uses. This renders every
// combination of the blueprint's choices and checks each Go file's imports
// are used; the compiler would refuse the file otherwise.
func TestEveryCombinationUsesItsImports(t *testing.T) {
	t.Parallel()
	bp, _, err := Load(AppBlueprint)
	if err != nil {
		t.Fatal(err)
	}
	combos := Combinations(bp, generator.Answers{"name": "acme", "module": "example.com/acme"})
	if len(combos) < 2 {
		t.Fatalf("%d combinations: the blueprint's choices were not found", len(combos))
	}
	for _, answers := range combos {
		// Generated (sqlc) files are not checked: the pure core suffices.
		plan, err := Renderer{CoreOnly: true}.Render(t.Context(), generator.NewRecord(bp.Name, goldenVersion, answers))
		if err != nil {
			t.Fatalf("%v: %v", answers, err)
		}
		for _, f := range plan.Files {
			if !strings.HasSuffix(f.Path, ".go") || f.Generated {
				continue
			}
			for _, unused := range unusedImports(t, f.Path, f.Content) {
				t.Errorf("%v: %s imports %s but does not use it", answers, f.Path, unused)
			}
		}
	}
}

// unusedImports returns the import paths of src that no selector names. A
// package's name is taken from its path (the last element, without a major
// version suffix, a "go-" prefix or a ".go"-style extension), as goimports
// assumes; an import whose real name differs must be named explicitly.
func unusedImports(t *testing.T, name string, src []byte) []string {
	t.Helper()
	file, err := parser.ParseFile(token.NewFileSet(), name, src, parser.SkipObjectResolution)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	used := map[string]bool{}
	ast.Inspect(file, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok {
			if id, ok := sel.X.(*ast.Ident); ok {
				used[id.Name] = true
			}
		}
		return true
	})
	var unused []string
	for _, spec := range file.Imports {
		p, _ := strconv.Unquote(spec.Path.Value)
		pkg := assumedName(p)
		if spec.Name != nil {
			pkg = spec.Name.Name
		}
		if pkg == "_" || pkg == "." {
			continue
		}
		if !used[pkg] {
			unused = append(unused, p)
		}
	}
	return unused
}

func assumedName(importPath string) string {
	base := path.Base(importPath)
	if strings.HasPrefix(base, "v") {
		if _, err := strconv.Atoi(base[1:]); err == nil && path.Dir(importPath) != "." {
			base = path.Base(path.Dir(importPath))
		}
	}
	base = strings.TrimPrefix(base, "go-")
	if i := strings.IndexAny(base, ".-"); i >= 0 {
		base = base[:i]
	}
	return base
}

package kit_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/saaskit/saaskit/generator"
	"github.com/saaskit/saaskit/internal/kit"
)

// TestKitCodeNamesNoBroker holds the kit to its design: a job broker is a
// blueprint entry (its traits, services and file group), its own templates
// and its lock, so adding one changes no Go code of the kit. Templates cannot
// name one either: generator.Data carries no broker, only traits.
func TestKitCodeNamesNoBroker(t *testing.T) {
	t.Parallel()
	bp, _, err := kit.Load(kit.AppBlueprint)
	if err != nil {
		t.Fatal(err)
	}
	values := bp.Question("broker").Values()
	root := filepath.Join("..", "..")
	for _, dir := range []string{"cmd", "generator", "internal"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, path, src, 0)
			if err != nil {
				return err
			}
			ast.Inspect(f, func(n ast.Node) bool {
				lit, ok := n.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					return true
				}
				if s, err := strconv.Unquote(lit.Value); err == nil && slices.Contains(values, s) {
					t.Errorf("%s names the broker %q: declare what it needs in the blueprint instead", fset.Position(lit.Pos()), s)
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	data := reflect.TypeFor[generator.Data]()
	for i := range data.NumField() {
		if name := data.Field(i).Name; strings.HasPrefix(name, "Broker") {
			t.Errorf("generator.Data has field %s: templates would branch on the broker instead of its traits", name)
		}
	}
}

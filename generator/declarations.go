package generator

import (
	"fmt"
	"go/ast"
	"go/build/constraint"
	"go/parser"
	"go/token"
	"path"
	"strings"
)

// checkDeclarations refuses a render in which two files of one Go package
// declare the same top-level name (or the same method on one type): a
// resource's names (its handlers, types, test helpers) must not take one
// the app already declares. owner maps a resource file's path to its
// resource, so the error names the resource to rename.
func checkDeclarations(files []File, owner map[string]string) error {
	type key struct{ pkg, name string }
	seen := map[key]string{}
	fset := token.NewFileSet()
	for _, f := range files {
		if !strings.HasSuffix(f.Path, ".go") {
			continue
		}
		file, err := parser.ParseFile(fset, f.Path, f.Content, parser.SkipObjectResolution|parser.ParseComments)
		if err != nil {
			return fmt.Errorf("%s: %w", f.Path, err)
		}
		if constrained(file) {
			continue // one of several builds' variants, which may share names
		}
		pkg := path.Dir(f.Path) + "/" + file.Name.Name
		for _, name := range declaredNames(file) {
			k := key{pkg, name}
			first, dup := seen[k]
			if !dup {
				seen[k] = f.Path
				continue
			}
			for _, p := range []string{f.Path, first} {
				if r, ok := owner[p]; ok {
					other := first
					if p == first {
						other = f.Path
					}
					return fmt.Errorf("resource name %q: its Go name %s (in %s) is already declared in %s; choose another name", r, name, p, other)
				}
			}
			return fmt.Errorf("%s and %s both declare %s", first, f.Path, name)
		}
	}
	return nil
}

// constrained reports whether file has a //go:build line.
func constrained(file *ast.File) bool {
	for _, g := range file.Comments {
		if g.Pos() > file.Package {
			return false
		}
		for _, c := range g.List {
			if constraint.IsGoBuild(c.Text) {
				return true
			}
		}
	}
	return false
}

// declaredNames lists a file's top-level names: functions, types,
// variables and constants, and methods as Type.Method.
func declaredNames(file *ast.File) []string {
	var names []string
	for _, d := range file.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if d.Recv == nil {
				if d.Name.Name != "init" {
					names = append(names, d.Name.Name)
				}
				continue
			}
			names = append(names, receiverType(d.Recv.List[0].Type)+"."+d.Name.Name)
		case *ast.GenDecl:
			for _, s := range d.Specs {
				switch s := s.(type) {
				case *ast.TypeSpec:
					names = append(names, s.Name.Name)
				case *ast.ValueSpec:
					for _, n := range s.Names {
						if n.Name != "_" {
							names = append(names, n.Name)
						}
					}
				}
			}
		}
	}
	return names
}

// receiverType is the name of a method's receiver type: T for T, *T, T[K]
// and *T[K].
func receiverType(e ast.Expr) string {
	for {
		switch t := e.(type) {
		case *ast.StarExpr:
			e = t.X
		case *ast.IndexExpr:
			e = t.X
		case *ast.IndexListExpr:
			e = t.X
		case *ast.Ident:
			return t.Name
		default:
			return fmt.Sprintf("%T", e)
		}
	}
}

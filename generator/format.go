package generator

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"path"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/tools/go/ast/astutil"
	"golang.org/x/tools/imports"
)

// imports.Process reads the local prefix from a package variable of
// x/tools, imports.LocalPrefix. localPrefix lets any number of goroutines
// format for the same module at once (one render formats on every core)
// while one formatting for another module waits until they are done.
var localPrefix = newPrefixGate()

type prefixGate struct {
	mu     sync.Mutex
	idle   *sync.Cond // signalled when active drops to 0
	module string     // imports.LocalPrefix while active > 0
	active int        // goroutines formatting for module
}

func newPrefixGate() *prefixGate {
	g := &prefixGate{}
	g.idle = sync.NewCond(&g.mu)
	return g
}

// useLocalPrefix sets imports.LocalPrefix to module for the caller until it
// calls the returned release.
func useLocalPrefix(module string) (release func()) {
	lp := localPrefix
	lp.mu.Lock()
	for lp.active > 0 && lp.module != module {
		lp.idle.Wait()
	}
	if lp.active == 0 {
		lp.module = module
		imports.LocalPrefix = module
	}
	lp.active++
	lp.mu.Unlock()
	return func() {
		lp.mu.Lock()
		lp.active--
		if lp.active == 0 {
			lp.idle.Broadcast()
		}
		lp.mu.Unlock()
	}
}

// formatGo formats generated Go in memory: gofmt, with the imports sorted,
// the module's own grouped last, and unused standard-library imports
// dropped (a template's conditional code may leave one). Templates state
// every other import exactly as each option combination uses it
// (internal/kit checks every combination): goimports' own adding and
// pruning is off because it asks the go command for package names, file by
// file, which tripled the time of a render. Invalid Go is an error naming
// the template, the output path and the numbered source.
func formatGo(tmpl, out string, src []byte, module string) ([]byte, error) {
	invalid := func(err error) error {
		return fmt.Errorf("template %s rendered invalid Go in %s: %w\n%s", tmpl, out, err, numbered(src))
	}
	pruned, err := pruneStdImports(out, src)
	if err != nil {
		return nil, invalid(err)
	}
	defer useLocalPrefix(module)()
	res, err := imports.Process(out, pruned, &imports.Options{
		Comments:   true,
		TabIndent:  true,
		TabWidth:   8,
		FormatOnly: true,
	})
	if err != nil {
		return nil, invalid(err)
	}
	return res, nil
}

// pruneStdImports removes the standard-library imports src never refers to.
// A standard package's name is the last element of its path (or the one
// before a /vN suffix), so no lookup is needed; other imports are left
// alone.
func pruneStdImports(name string, src []byte) ([]byte, error) {
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, name, src, parser.ParseComments|parser.SkipObjectResolution)
	if err != nil {
		return nil, err
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
		p, err := strconv.Unquote(spec.Path.Value)
		if err != nil || spec.Name != nil || strings.Contains(strings.SplitN(p, "/", 2)[0], ".") {
			continue
		}
		if !used[stdName(p)] {
			unused = append(unused, p)
		}
	}
	if len(unused) == 0 {
		return src, nil
	}
	for _, p := range unused {
		astutil.DeleteImport(fset, file, p)
	}
	var b bytes.Buffer
	if err := format.Node(&b, fset, file); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// stdName returns the package name of a standard-library import path.
func stdName(importPath string) string {
	base := path.Base(importPath)
	if len(base) > 1 && base[0] == 'v' && strings.Trim(base[1:], "0123456789") == "" {
		return path.Base(path.Dir(importPath))
	}
	return base
}

// numbered prefixes each line of src with its line number.
func numbered(src []byte) string {
	var b strings.Builder
	for i, line := range bytes.Split(bytes.TrimRight(src, "\n"), []byte("\n")) {
		fmt.Fprintf(&b, "%4d  %s\n", i+1, line)
	}
	return b.String()
}

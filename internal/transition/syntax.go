package transition

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"strings"
)

// SyntaxMerger wraps a text merger for Go files. Where the text merge
// leaves a Go file conflicted and the kit's side only inserts lines (a
// resource's routes, permissions, matrix entries), each inserted block is
// placed through the syntax trees instead: into the same function body,
// composite literal or file scope of the user's file, after the line that
// preceded it in the kit's render, or at the end of that block when the
// user moved or removed that line. The result must parse and is gofmt'ed;
// otherwise the text merge's conflict stands.
func SyntaxMerger(text Merger) Merger {
	return func(path string, base, ours, theirs []byte) ([]byte, bool, error) {
		merged, conflict, err := text(path, base, ours, theirs)
		if err != nil || !conflict || !strings.HasSuffix(path, ".go") || base == nil {
			return merged, conflict, err
		}
		if placed, err := PlaceInsertions(base, ours, theirs); err == nil {
			return placed, false, nil
		}
		return merged, conflict, nil
	}
}

// hunk is a block of lines theirs inserts: lines [start, end) of theirs,
// after line prev of theirs (-1 at the top).
type hunk struct{ start, end, prev int }

// PlaceInsertions applies to ours the lines theirs inserts into base,
// placing each block by the syntax tree (see SyntaxMerger). It fails when
// theirs does more than insert, or a block's place cannot be found.
func PlaceInsertions(base, ours, theirs []byte) ([]byte, error) {
	bl, tl, ol := lines(base), lines(theirs), lines(ours)
	hunks, err := insertions(bl, tl)
	if err != nil {
		return nil, err
	}
	tf, tset, err := parseGo(theirs)
	if err != nil {
		return nil, fmt.Errorf("the kit's render: %w", err)
	}
	of, oset, err := parseGo(ours)
	if err != nil {
		return nil, fmt.Errorf("your file: %w", err)
	}
	type insert struct {
		at    int // insert before this line of ours
		lines []string
	}
	var inserts []insert
	for _, h := range hunks {
		key, n, err := container(tf, tset, h)
		if err != nil {
			return nil, err
		}
		from, to, err := findContainer(of, oset, key, n)
		if err != nil {
			return nil, err
		}
		if key.kind != "file" && from == to {
			return nil, fmt.Errorf("%s: the block the kit's lines go into is on one line", key.decl)
		}
		at := to // before the closing line of the block
		if key.kind == "file" {
			at = len(ol)
		}
		if h.prev >= 0 {
			want := strings.TrimSpace(tl[h.prev])
			for i := to - 1; i >= from; i-- {
				if want != "" && strings.TrimSpace(ol[i]) == want {
					at = i + 1
					break
				}
			}
		}
		inserts = append(inserts, insert{at, tl[h.start:h.end]})
	}
	// From the bottom up, so earlier positions stay valid.
	out := append([]string{}, ol...)
	for i := len(inserts) - 1; i >= 0; i-- {
		in := inserts[i]
		out = append(out[:in.at], append(append([]string{}, in.lines...), out[in.at:]...)...)
	}
	src := []byte(strings.Join(out, "\n"))
	formatted, err := format.Source(src)
	if err != nil {
		return nil, fmt.Errorf("placing the kit's lines gives invalid Go: %w", err)
	}
	return formatted, nil
}

func lines(b []byte) []string {
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func parseGo(src []byte) (*ast.File, *token.FileSet, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "", src, parser.ParseComments|parser.SkipObjectResolution)
	return f, fset, err
}

// insertions returns the blocks of lines theirs adds to base, or an error
// when theirs also removes or changes lines.
func insertions(base, theirs []string) ([]hunk, error) {
	var hunks []hunk
	i := 0
	for j := 0; j < len(theirs); j++ {
		if i < len(base) && base[i] == theirs[j] {
			i++
			continue
		}
		if n := len(hunks); n > 0 && hunks[n-1].end == j {
			hunks[n-1].end++
			continue
		}
		hunks = append(hunks, hunk{start: j, end: j + 1, prev: j - 1})
	}
	if i != len(base) {
		return nil, fmt.Errorf("the kit's change is not only insertions")
	}
	return hunks, nil
}

// containerKey names a block by the top-level declaration holding it and
// its kind: "body" (a function's statements), "literal" (a composite
// literal's elements) or "file" (top-level declarations).
type containerKey struct{ decl, kind string }

// container finds the innermost block of theirs enclosing h, as a key and
// its ordinal among the blocks of that kind in the declaration.
func container(f *ast.File, fset *token.FileSet, h hunk) (containerKey, int, error) {
	line := func(p token.Pos) int { return fset.Position(p).Line - 1 } // 0-based
	for _, d := range f.Decls {
		if line(d.Pos()) > h.start || line(d.End()) < h.end-1 {
			continue
		}
		key := containerKey{decl: declName(d)}
		best, bestN, counts := "", -1, map[string]int{}
		ast.Inspect(d, func(n ast.Node) bool {
			var kind string
			var open, closing token.Pos
			switch n := n.(type) {
			case *ast.BlockStmt:
				kind, open, closing = "body", n.Lbrace, n.Rbrace
			case *ast.CompositeLit:
				kind, open, closing = "literal", n.Lbrace, n.Rbrace
			default:
				return true
			}
			idx := counts[kind]
			counts[kind]++
			if line(open) < h.start && line(closing) >= h.end {
				best, bestN = kind, idx // innermost wins: Inspect goes outside in
			}
			return true
		})
		if best == "" {
			return key, 0, fmt.Errorf("no block of %s encloses the kit's lines", key.decl)
		}
		key.kind = best
		return key, bestN, nil
	}
	return containerKey{kind: "file"}, 0, nil
}

// findContainer returns the lines [from, to) of ours' block named by key
// and n: from the opening line to the closing one.
func findContainer(f *ast.File, fset *token.FileSet, key containerKey, n int) (int, int, error) {
	line := func(p token.Pos) int { return fset.Position(p).Line - 1 }
	if key.kind == "file" {
		return 0, line(f.End()) + 1, nil
	}
	for _, d := range f.Decls {
		if declName(d) != key.decl {
			continue
		}
		from, to, count := -1, -1, 0
		ast.Inspect(d, func(node ast.Node) bool {
			var open, closing token.Pos
			switch node := node.(type) {
			case *ast.BlockStmt:
				if key.kind != "body" {
					return true
				}
				open, closing = node.Lbrace, node.Rbrace
			case *ast.CompositeLit:
				if key.kind != "literal" {
					return true
				}
				open, closing = node.Lbrace, node.Rbrace
			default:
				return true
			}
			if count == n {
				from, to = line(open), line(closing)
			}
			count++
			return true
		})
		if from < 0 {
			return 0, 0, fmt.Errorf("%s has no such block in your file", key.decl)
		}
		return from, to, nil
	}
	return 0, 0, fmt.Errorf("your file has no %s", key.decl)
}

// declName names a top-level declaration: a function by its receiver and
// name, a const, var or type declaration by its first name.
func declName(d ast.Decl) string {
	switch d := d.(type) {
	case *ast.FuncDecl:
		if d.Recv != nil && len(d.Recv.List) > 0 {
			var b bytes.Buffer
			_ = format.Node(&b, token.NewFileSet(), d.Recv.List[0].Type)
			return "func (" + b.String() + ") " + d.Name.Name
		}
		return "func " + d.Name.Name
	case *ast.GenDecl:
		for _, s := range d.Specs {
			switch s := s.(type) {
			case *ast.ValueSpec:
				return d.Tok.String() + " " + s.Names[0].Name
			case *ast.TypeSpec:
				return "type " + s.Name.Name
			}
		}
	}
	return ""
}

// ManualInsertions describes, for a file the kit could not merge, the lines
// to add by hand and where: what `add resource` prints instead of writing
// conflict markers.
func ManualInsertions(path string, base, theirs []byte) string {
	bl, tl := lines(base), lines(theirs)
	hunks, err := insertions(bl, tl)
	if err != nil {
		return fmt.Sprintf("%s: the kit changes lines you changed too; compare it with `saaskit add resource --dry-run`", path)
	}
	var b strings.Builder
	for _, h := range hunks {
		after := "at the top"
		if h.prev >= 0 {
			after = "after the line\n    " + strings.TrimSpace(tl[h.prev])
		}
		fmt.Fprintf(&b, "%s: add %s\n", path, after)
		for _, l := range tl[h.start:h.end] {
			fmt.Fprintf(&b, "  + %s\n", l)
		}
	}
	return b.String()
}

package generator

import (
	"strings"
	"testing"
)

// Two files of one package declaring a name is refused, naming the
// resource when one of them is a resource's; a _test package, methods on
// different types and build variants may share names.
func TestCheckDeclarations(t *testing.T) {
	t.Parallel()
	file := func(path, src string) File { return File{Path: path, Content: []byte(src)} }
	ok := []File{
		file("api/a.go", "package api\n\ntype pageJSON struct{}\n\nfunc (pageJSON) get() {}\n"),
		file("api/a_test.go", "package api_test\n\ntype pageJSON struct{}\n"),
		file("api/b.go", "package api\n\ntype other struct{}\n\nfunc (other) get() {}\n"),
		file("api/linux.go", "//go:build linux\n\npackage api\n\nfunc variant() {}\n"),
		file("api/other.go", "//go:build !linux\n\npackage api\n\nfunc variant() {}\n"),
	}
	if err := checkDeclarations(ok, nil); err != nil {
		t.Fatalf("distinct declarations refused: %v", err)
	}
	dup := append(ok, file("api/pages.go", "package api\n\ntype pageJSON struct{}\n"))
	err := checkDeclarations(dup, map[string]string{"api/pages.go": "pages"})
	if err == nil || !strings.Contains(err.Error(), `resource name "pages": its Go name pageJSON (in api/pages.go) is already declared in api/a.go`) {
		t.Errorf("a resource's duplicate: %v", err)
	}
	if err := checkDeclarations(dup, nil); err == nil || !strings.Contains(err.Error(), "api/a.go and api/pages.go both declare pageJSON") {
		t.Errorf("a template's duplicate: %v", err)
	}
}

package transition

import (
	"context"
	"os/exec"
	"strings"
	"testing"
)

const routesBase = `package api

func addRoutes(r *router) {
	r.get("/a", a())
	r.get("/b", b())

	// Resources go below this line.
}

var allowed = map[string][]string{
	"a": {"x"},
}
`

const routesTheirs = `package api

func addRoutes(r *router) {
	r.get("/a", a())
	r.get("/b", b())

	// Resources go below this line.
	r.get("/invoices", listInvoices())
	r.post("/invoices", createInvoice())
}

var allowed = map[string][]string{
	"a": {"x"},

	"invoices": {"y"},
}

// Permissions on invoices.
const (
	InvoicesRead = "invoices:read"
)
`

// The user reordered the routes, dropped the marking comment, added a
// route of their own where the kit's go, and rewrote the map: a text merge
// conflicts, the syntax trees do not.
const routesOurs = `package api

// addRoutes is ours now.
func addRoutes(r *router) {
	r.get("/b", b()) // first
	r.get("/a", a())
	r.get("/mine", mine())
}

var allowed = map[string][]string{
	"z": {"w"}, // ours
	"a": {"x"},
}
`

func TestPlaceInsertionsFollowsTheSyntaxTree(t *testing.T) {
	t.Parallel()
	got, err := PlaceInsertions([]byte(routesBase), []byte(routesOurs), []byte(routesTheirs))
	if err != nil {
		t.Fatal(err)
	}
	want := `package api

// addRoutes is ours now.
func addRoutes(r *router) {
	r.get("/b", b()) // first
	r.get("/a", a())
	r.get("/mine", mine())
	r.get("/invoices", listInvoices())
	r.post("/invoices", createInvoice())
}

var allowed = map[string][]string{
	"z": {"w"}, // ours
	"a": {"x"},

	"invoices": {"y"},
}

// Permissions on invoices.
const (
	InvoicesRead = "invoices:read"
)
`
	if string(got) != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestPlaceInsertionsRefuses(t *testing.T) {
	t.Parallel()
	// The kit changes a line, not only inserts.
	changed := strings.Replace(routesTheirs, `r.get("/a", a())`, `r.get("/a", a2())`, 1)
	if _, err := PlaceInsertions([]byte(routesBase), []byte(routesOurs), []byte(changed)); err == nil {
		t.Error("a change that is not only insertions was placed")
	}
	// The user removed the function the lines go into.
	gone := "package api\n\nvar allowed = map[string][]string{}\n"
	if _, err := PlaceInsertions([]byte(routesBase), []byte(gone), []byte(routesTheirs)); err == nil || !strings.Contains(err.Error(), "no func addRoutes") {
		t.Errorf("a missing function: %v", err)
	}
	// The user wrote the map on one line.
	oneLine := strings.Replace(routesOurs, "map[string][]string{\n\t\"z\": {\"w\"}, // ours\n\t\"a\": {\"x\"},\n}", "map[string][]string{\"a\": {\"x\"}}", 1)
	if _, err := PlaceInsertions([]byte(routesBase), []byte(oneLine), []byte(routesTheirs)); err == nil || !strings.Contains(err.Error(), "on one line") {
		t.Errorf("a one-line literal: %v", err)
	}
	msg := ManualInsertions("api/routes.go", []byte(routesBase), []byte(routesTheirs))
	for _, w := range []string{"api/routes.go: add after the line\n    // Resources go below this line.", `  + 	r.get("/invoices", listInvoices())`, "InvoicesRead"} {
		if !strings.Contains(msg, w) {
			t.Errorf("manual insertions lack %q:\n%s", w, msg)
		}
	}
}

// Through the merger: git's text merge conflicts on the user's file, the
// syntax merger resolves it; a file it cannot place keeps the conflict.
func TestSyntaxMergerResolvesTextConflicts(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	text := GitMerger(context.Background(), "yours", "base", "theirs")
	_, conflict, err := text("api/routes.go", []byte(routesBase), []byte(routesOurs), []byte(routesTheirs))
	if err != nil || !conflict {
		t.Fatalf("the text merge does not conflict (%v): the test needs another file", err)
	}
	merged, conflict, err := SyntaxMerger(text)("api/routes.go", []byte(routesBase), []byte(routesOurs), []byte(routesTheirs))
	if err != nil || conflict || !strings.Contains(string(merged), `r.post("/invoices", createInvoice())`) || !strings.Contains(string(merged), "mine()") {
		t.Errorf("conflict %v, err %v:\n%s", conflict, err, merged)
	}
	gone := "package api\n\nvar allowed = map[string][]string{}\n"
	_, conflict, err = SyntaxMerger(text)("api/routes.go", []byte(routesBase), []byte(gone), []byte(routesTheirs))
	if err != nil || !conflict {
		t.Errorf("a file whose function is gone: conflict %v, err %v", conflict, err)
	}
}

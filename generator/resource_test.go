package generator

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

func TestParseResourceAcceptsEveryType(t *testing.T) {
	t.Parallel()
	existing := []Resource{{Name: "customers", Fields: "name:string"}}
	r, err := ParseResource("line_items",
		"number:string!unique title:text? amount_cents:int64 qty:int=1 paid:bool=false total:decimal?=0 due_at:time? "+
			"issued_on:date? ext:uuid!index meta:json? customer:ref(customers)? status:enum(draft|open|paid)=draft",
		existing, 2)
	if err != nil {
		t.Fatal(err)
	}
	if r.Model != "LineItem" || r.Plural != "LineItems" || r.Var != "lineItem" || r.Path != "line-items" ||
		r.PathSingular != "line-item" || r.Label != "line item" || r.Migration != "10002" {
		t.Errorf("names = %+v", r)
	}
	byName := map[string]Field{}
	for _, f := range r.Fields {
		byName[f.Name] = f
	}
	if f := byName["customer"]; f.Column() != "customer_id" || f.GoName() != "CustomerID" || f.RefModel() != "Customer" || !f.Nullable || !f.Filterable() {
		t.Errorf("ref = %+v", f)
	}
	if f := byName["status"]; f.SQLDefault() != "'draft'" || strings.Join(f.Values, "|") != "draft|open|paid" || f.Required() {
		t.Errorf("enum = %+v", f)
	}
	if f := byName["number"]; !f.Unique || !f.Required() || !f.Filterable() || f.SQLType() != "text" {
		t.Errorf("string = %+v", f)
	}
	if f := byName["meta"]; f.Param() != "sqlc.narg('meta')::text::jsonb" || f.Filterable() {
		t.Errorf("json = %+v", f)
	}
	if got := r.Refs; len(got) != 1 || got[0] != "customers" {
		t.Errorf("refs = %v", got)
	}
}

// Every refusal names the bad token and what would be accepted.
func TestParseResourceRefuses(t *testing.T) {
	t.Parallel()
	existing := []Resource{{Name: "customers", Fields: "name:string"}}
	for _, tc := range []struct{ name, fields, want string }{
		{"invoice", "a:string", `resource name "invoice" is not a plural noun`},
		{"Invoices", "a:string", `resource name "Invoices": use letters a-z`},
		{"in-voices", "a:string", `use letters a-z`},
		{"a/b", "a:string", `use letters a-z`},
		{"in__voices", "a:string", `single underscores`},
		{"customers", "a:string", `resource "customers" already exists`},
		{"tenants", "a:string", `taken by the app itself`},
		{"api_keys", "a:string", `taken by the app itself`},
		{"orders", "a:string", `"order" is an SQL reserved word`},
		{"funcs", "a:string", `"func" is a Go keyword`},
		{"invoices", "", `no fields`},
		{"invoices", "created_at:time", `created_at is a column every resource already has`},
		{"invoices", "tenant:ref(customers)", `tenant_id is a column every resource already has`},
		{"invoices", "limit:int", `"limit" is an SQL reserved word`},
		{"invoices", "set_x:int", `queries' and the list's own parameters`},
		{"invoices", "a:float", `unknown type "float" (types: string, text`},
		{"invoices", "a:string(3)", `type string takes no (...) argument`},
		{"invoices", "a:ref(vendors)", `ref(vendors) names no resource of this repository (resources: customers, invoices, projects)`},
		{"invoices", "a:enum(x|x)", `enum value "x" is listed twice`},
		{"invoices", "a:enum(X)", `enum value "X" must be a lowercase word`},
		{"invoices", "a:bool=yes", `a bool default is true or false`},
		{"invoices", "a:time=now", `a time field takes no default`},
		{"invoices", "a:json!unique", `a json field cannot be !unique`},
		{"invoices", "a:string!sorted", `unknown marker !sorted`},
		{"invoices", "a:string a:text", `the column a is given twice`},
		{"invoices", "a", `write NAME:TYPE`},
	} {
		_, err := ParseResource(tc.name, tc.fields, existing, 2)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseResource(%q, %q) = %v, want an error containing %q", tc.name, tc.fields, err, tc.want)
		}
	}
}

// A template with __resource__ in its path renders once per resource: the
// sample resource, then each recorded one, with the resource's data and
// (but for the sample, whose table predates the templates) its migration
// version; the shared templates see every resource.
func TestRenderResourceTemplates(t *testing.T) {
	t.Parallel()
	bps := fstest.MapFS{"demo.yaml": {Data: []byte(`name: demo
templates: demo
questions:
  - {name: name, title: Name}
migrations: ["db/*.sql"]
`)}}
	tree := fstest.MapFS{
		"list.txt.tmpl":                          {Data: []byte(`{{range .Resources}}{{.Name}} {{end}}`)},
		"db/__migration_____resource__.sql.tmpl": {Data: []byte(`CREATE TABLE {{.Resource.Name}} ({{range .Resource.Fields}}{{.Column}} {{.SQLType}}{{end}});`)},
		"api/__resource__.txt.tmpl":              {Data: []byte(`{{.Resource.Model}} in {{.Name}}`)},
	}
	bp, err := LoadBlueprint(bps, "demo")
	if err != nil {
		t.Fatal(err)
	}
	plain, err := renderTemplates(bp, tree, Input{Answers: Answers{"name": "app"}, KitVersion: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range plain.Files {
		paths = append(paths, f.Path)
	}
	if want := []string{"api/projects.txt", "list.txt"}; !slices.Equal(paths, want) {
		t.Errorf("with the sample resource alone: %v, want %v", paths, want)
	}
	plan, err := renderTemplates(bp, tree, Input{Answers: Answers{"name": "app"}, KitVersion: "v1", Resources: []Resource{
		{Name: "customers", Fields: "name:string project:ref(projects)"},
		{Name: "invoices", Fields: "total:decimal customer:ref(customers)"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"list.txt":               "projects customers invoices ",
		"db/10001_customers.sql": "CREATE TABLE customers (name textproject_id uuid);",
		"db/10002_invoices.sql":  "CREATE TABLE invoices (total numericcustomer_id uuid);",
		"api/projects.txt":       "Project in app",
		"api/customers.txt":      "Customer in app",
		"api/invoices.txt":       "Invoice in app",
	} {
		f := plan.File(path)
		if f == nil || string(f.Content) != want {
			t.Errorf("%s = %v, want %q", path, f, want)
		}
	}
	if !(&Plan{Migrations: bp.Migrations}).IsMigration("db/10002_invoices.sql") {
		t.Error("a resource's migration is not a migration")
	}
	if _, err := renderTemplates(bp, tree, Input{Answers: Answers{"name": "app"}, KitVersion: "v1", Resources: []Resource{{Name: "invoices", Fields: "a:money"}}}); err == nil ||
		!strings.Contains(err.Error(), "resource invoices") {
		t.Errorf("a bad recorded resource: %v", err)
	}
}

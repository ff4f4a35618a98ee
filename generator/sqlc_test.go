package generator

import (
	"strings"
	"testing"
)

const testSQLCConfig = `version: "2"
sql:
  - engine: postgresql
    schema: schema.sql
    queries: queries.sql
    gen:
      go:
        package: db
        out: db
        sql_package: pgx/v5
`

const testSchema = "CREATE TABLE notes (id bigint PRIMARY KEY, body text NOT NULL);\n"

func TestSQLCGeneratesQueryCode(t *testing.T) {
	out, err := SQLC([]File{
		{Path: sqlcConfig, Content: []byte(testSQLCConfig)},
		{Path: "schema.sql", Content: []byte(testSchema)},
		{Path: "queries.sql", Content: []byte("-- name: GetNote :one\nSELECT * FROM notes WHERE id = @id;\n")},
	})
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range out {
		paths = append(paths, f.Path)
		if !f.Generated {
			t.Errorf("%s is not marked Generated", f.Path)
		}
		if f.Path == "db/queries.sql.go" && !strings.Contains(string(f.Content), "func (q *Queries) GetNote(") {
			t.Errorf("db/queries.sql.go lacks GetNote:\n%s", f.Content)
		}
	}
	if got, want := strings.Join(paths, " "), "db/db.go db/models.go db/queries.sql.go"; got != want {
		t.Errorf("generated %s, want %s", got, want)
	}
}

// sqlc's library ends its process on a bad query; the kit must come back
// with the diagnostics instead of dying with them.
func TestSQLCReportsBadQueries(t *testing.T) {
	for name, query := range map[string]string{
		"syntax":         "-- name: Broken :one\nSELECT FROM WHERE;\n",
		"unknown column": "-- name: Missing :one\nSELECT title FROM notes;\n",
		"double cast":    "-- name: Cast :exec\nUPDATE notes SET body = @body::text::text;\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := SQLC([]File{
				{Path: sqlcConfig, Content: []byte(testSQLCConfig)},
				{Path: "schema.sql", Content: []byte(testSchema)},
				{Path: "queries.sql", Content: []byte(query)},
			})
			if err == nil {
				t.Fatal("want an error")
			}
			if !strings.Contains(err.Error(), "sqlc generate failed (exit 1)") || !strings.Contains(err.Error(), "queries.sql:") {
				t.Errorf("error does not name sqlc's failure and the file:\n%v", err)
			}
		})
	}
}

// A binary whose main does not hand over to sqlc would, started as the
// child, run its own code again and start another child: SQLC refuses in a
// process that is itself a child.
func TestSQLCRefusesToRecurse(t *testing.T) {
	t.Setenv(sqlcChildEnv, "1")
	_, err := SQLC([]File{
		{Path: sqlcConfig, Content: []byte(testSQLCConfig)},
		{Path: "schema.sql", Content: []byte(testSchema)},
	})
	if err == nil || !strings.Contains(err.Error(), "must call generator.SQLCChild") {
		t.Fatalf("want the refusal, got %v", err)
	}
}

package kit

import (
	"strings"
	"testing"

	"github.com/saaskit/saaskit/generator"
)

// The renderer completes a record's answers with the blueprint's defaults,
// keeps its resources, and writes that record into the plan: the record a
// transition advances .saaskit.yaml to.
func TestRendererRendersTheRecord(t *testing.T) {
	t.Parallel()
	rec := generator.NewRecord(AppBlueprint, goldenVersion, generator.Answers{"name": "acme", "tenancy": "row"})
	rec.Resources = []generator.Resource{{Name: "posts", Fields: "title:string"}}
	plan, err := Renderer{CoreOnly: true}.Render(t.Context(), rec)
	if err != nil {
		t.Fatal(err)
	}
	got, err := generator.ParseRecord(plan.File(generator.RecordFile).Content)
	if err != nil {
		t.Fatal(err)
	}
	if got.Answers["module"] != "example.com/acme" || got.Answers["tenancy"] != "row" || got.Answers["broker"] == "" {
		t.Errorf("answers not completed from the blueprint: %v", got.Answers)
	}
	if len(got.Resources) != 1 || got.Resources[0] != rec.Resources[0] {
		t.Errorf("resources = %v, want %v", got.Resources, rec.Resources)
	}
	for _, f := range plan.Files {
		if f.Generated {
			t.Errorf("CoreOnly render has tool output %s", f.Path)
		}
	}
	if len(plan.Migrations) == 0 || !plan.IsMigration("internal/postgres/migrations/00001_control_plane.sql") {
		t.Errorf("plan does not know the blueprint's migrations: %v", plan.Migrations)
	}

	rec.Answers["tenancy"] = "sharded"
	if _, err := (Renderer{CoreOnly: true}).Render(t.Context(), rec); err == nil || !strings.HasPrefix(err.Error(), generator.RecordFile+": ") {
		t.Errorf("an invalid record's error does not name %s: %v", generator.RecordFile, err)
	}
}

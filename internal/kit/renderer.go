package kit

import (
	"context"
	"fmt"

	"github.com/saaskit/saaskit/generator"
)

// Renderer renders records in process with the blueprints and templates
// embedded in this build. It is the only place a record becomes a
// generator.Input: it loads the record's blueprint, completes the answers
// with the blueprint's defaults and validates them, renders the pure core
// and then runs the tooling stage (sqlc) over it.
type Renderer struct {
	// CoreOnly leaves out the tooling stage, so the plan lacks sqlc's
	// query code. Tests that look only at rendered templates use it: it
	// is faster, and their binaries need not play sqlc's child
	// (generator.SQLCChild).
	CoreOnly bool
}

var _ generator.Renderer = Renderer{}

// Render renders rec. Its KitVersion is taken as given (goldens and smoke
// tests render under fixed stand-in versions); which kit renders which
// version is the caller's choice.
func (r Renderer) Render(_ context.Context, rec *generator.Record) (*generator.Plan, error) {
	bp, tree, err := Load(rec.Blueprint)
	if err != nil {
		return nil, err
	}
	answers, err := bp.Complete(rec.Answers)
	if err != nil {
		return nil, err
	}
	if err := bp.Validate(answers); err != nil {
		return nil, fmt.Errorf("%s: %w", generator.RecordFile, err)
	}
	plan, err := generator.Render(bp, tree, generator.Input{Answers: answers, KitVersion: rec.KitVersion, Resources: rec.Resources})
	if err != nil {
		return nil, err
	}
	if r.CoreOnly {
		return plan, nil
	}
	if err := generator.GenerateQueryCode(plan); err != nil {
		return nil, err
	}
	return plan, nil
}

// Package kit binds the engine to the blueprints and templates embedded in
// this build of saaskit.
package kit

import (
	"fmt"
	"io/fs"
	"maps"

	"github.com/saaskit/saaskit/blueprints"
	"github.com/saaskit/saaskit/generator"
	"github.com/saaskit/saaskit/templates"
)

// AppBlueprint is the blueprint `saaskit new` renders.
const AppBlueprint = "app"

// Load returns the named blueprint and its template tree.
func Load(name string) (*generator.Blueprint, fs.FS, error) {
	bp, err := generator.LoadBlueprint(blueprints.FS, name)
	if err != nil {
		return nil, nil, err
	}
	tree, err := fs.Sub(templates.FS, bp.Templates)
	if err != nil {
		return nil, nil, fmt.Errorf("blueprint %s: templates %q: %w", name, bp.Templates, err)
	}
	return bp, tree, nil
}

// Combinations returns base extended with every combination of the
// blueprint's choice questions, in the blueprint's order.
func Combinations(bp *generator.Blueprint, base generator.Answers) []generator.Answers {
	combos := []generator.Answers{maps.Clone(base)}
	for _, q := range bp.Questions {
		if len(q.Choices) == 0 {
			continue
		}
		next := make([]generator.Answers, 0, len(combos)*len(q.Choices))
		for _, a := range combos {
			for _, c := range q.Choices {
				b := maps.Clone(a)
				b[q.Name] = c.Value
				next = append(next, b)
			}
		}
		combos = next
	}
	return combos
}

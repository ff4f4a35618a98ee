// Package kit binds the engine to the blueprints and templates embedded in
// this build of saaskit.
package kit

import (
	"fmt"
	"io/fs"

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

// Package blueprints embeds the declarative recipes that drive generation:
// the questions asked, which template files render under which answers, and
// the pinned module graph of each generated repository.
package blueprints

import "embed"

// FS holds every blueprint manifest and its lock files.
//
//go:embed *.yaml all:app
var FS embed.FS

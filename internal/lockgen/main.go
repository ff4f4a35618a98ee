// Command lockgen rebuilds the lock files of the app blueprint (go.mod and
// go.sum of generated repositories). Run it with `go generate ./generator`
// from the repository root after changing the blueprint's modules or a
// template's imports.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/saaskit/saaskit/generator"
	"github.com/saaskit/saaskit/internal/buildinfo"
	"github.com/saaskit/saaskit/internal/kit"
)

func main() {
	// Rendering a lock's repository runs sqlc in a copy of this binary.
	if code, ok := generator.SQLCChild(); ok {
		os.Exit(code)
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "lockgen:", err)
		os.Exit(1)
	}
}

func run() error {
	dir := filepath.Join("..", "blueprints", kit.AppBlueprint, "locks")
	if len(os.Args) > 1 {
		dir = os.Args[1]
	}
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("lock directory: %w (run from ./generator via go generate)", err)
	}
	bp, tree, err := kit.Load(kit.AppBlueprint)
	if err != nil {
		return err
	}
	return generator.UpdateLocks(bp, tree, dir, buildinfo.Version(), func(s string) { fmt.Fprintln(os.Stderr, s) })
}

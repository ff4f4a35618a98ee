// Package transition moves a generated repository from one record to the
// next without losing the user's edits. Every verb that changes a
// repository (`saaskit upgrade`, `saaskit config set`, and `saaskit add
// resource` to come) only computes the next record and hands it to Run:
// Run renders the current record (the base) and the next (theirs) with the
// renderers it is given, merges every file three ways against the working
// tree (ours), and advances .saaskit.yaml once everything is written.
//
// It never loads the kit's embedded blueprints or templates: what renders a
// record (this build in process, an older saaskit from the module proxy, a
// directory) is the command's choice, made through the command factory.
package transition

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/saaskit/saaskit/generator"
)

// Action is what an upgrade does to one path.
type Action int

// Actions, in the order the summary lists them.
const (
	Update      Action = iota // only the kit changed it: replaced
	Merge                     // both changed it, without overlap: merged
	Conflict                  // both changed the same lines: conflict markers
	Keep                      // only the user changed it: kept as is
	Add                       // new in the kit: added
	Remove                    // dropped by the kit, unmodified: removed
	KeepDeleted               // deleted by the user: stays deleted
	KeepDropped               // dropped by the kit but modified by the user: kept
	Migration                 // the kit changed a migration that may be applied: not touched
	Regenerate                // generated (go.mod, go.sum, sqlc output): rebuilt, not text-merged
)

var actionNames = map[Action]string{
	Update: "updated", Merge: "merged", Conflict: "conflicts", Keep: "kept",
	Add: "added", Remove: "removed", KeepDeleted: "kept deleted",
	KeepDropped: "kept though dropped by the kit", Migration: "migrations left as they are",
	Regenerate: "regenerated",
}

func (a Action) String() string { return actionNames[a] }

// Change is one path's outcome. New is nil when the path is removed or left
// alone.
type Change struct {
	Path   string
	Action Action
	Old    []byte // the working tree's content; nil when absent
	New    []byte // what to write; nil to remove (Remove) or leave (others)
	Mode   fs.FileMode
	// Done marks a change an interrupted run of the same upgrade already
	// wrote (see Journal): it is reported, not written again.
	Done bool
}

// Writes reports whether applying the change touches the disk.
func (c Change) Writes() bool {
	if c.Done {
		return false
	}
	switch c.Action {
	case Update, Merge, Conflict, Add, Remove, Regenerate:
		return !bytes.Equal(c.Old, c.New) || c.Action == Remove
	}
	return false
}

// Merger merges three versions of a file; conflicts are marked in the
// result git-style.
type Merger func(path string, base, ours, theirs []byte) (merged []byte, conflict bool, err error)

// Inputs are the three trees and the rules that shape the merge.
type Inputs struct {
	Base, Theirs *generator.Plan
	Root         string // the working tree
	Merge        Merger
	IsMigration  func(path string) bool
	// Skip names paths the caller handles itself (the record).
	Skip func(path string) bool
}

// Compute decides the change of every path in base, theirs or both. It
// reads the working tree and writes nothing.
func Compute(in Inputs) ([]Change, error) {
	base, theirs := index(in.Base), index(in.Theirs)
	paths := map[string]bool{}
	for p := range base {
		paths[p] = true
	}
	for p := range theirs {
		paths[p] = true
	}
	sorted := make([]string, 0, len(paths))
	for p := range paths {
		if in.Skip == nil || !in.Skip(p) {
			sorted = append(sorted, p)
		}
	}
	sort.Strings(sorted)

	var changes []Change
	for _, p := range sorted {
		b, inBase := base[p]
		t, inTheirs := theirs[p]
		ours, err := os.ReadFile(filepath.Join(in.Root, filepath.FromSlash(p)))
		exists := err == nil
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		c := Change{Path: p, Old: ours}
		if inTheirs {
			c.Mode = t.Mode
		}
		switch {
		case inTheirs && (t.Generated || isModuleFile(p)):
			// Rebuilt after the text merge; see Apply.
			c.Action = Regenerate
		case inBase && inTheirs && !exists:
			c.Action = KeepDeleted
		case inBase && inTheirs && in.IsMigration != nil && in.IsMigration(p) && !bytes.Equal(b.Content, t.Content):
			c.Action = Migration
		case inBase && inTheirs && bytes.Equal(ours, t.Content):
			continue // already what the kit renders
		case inBase && inTheirs && bytes.Equal(ours, b.Content):
			c.Action, c.New = Update, t.Content
		case inBase && inTheirs && bytes.Equal(b.Content, t.Content):
			c.Action = Keep
		case inBase && inTheirs:
			merged, conflict, err := in.Merge(p, b.Content, ours, t.Content)
			if err != nil {
				return nil, err
			}
			c.Action, c.New = Merge, merged
			if conflict {
				c.Action = Conflict
			}
		case inTheirs && !exists:
			c.Action, c.New = Add, t.Content
		case inTheirs && bytes.Equal(ours, t.Content):
			continue
		case inTheirs:
			// The user made a file where the kit now puts one: merge
			// against an empty base, which keeps both sides visible.
			merged, conflict, err := in.Merge(p, nil, ours, t.Content)
			if err != nil {
				return nil, err
			}
			c.Action, c.New = Merge, merged
			if conflict {
				c.Action = Conflict
			}
		case !exists:
			continue // dropped by the kit and already gone
		case in.IsMigration != nil && in.IsMigration(p):
			c.Action = Migration
		case bytes.Equal(ours, b.Content):
			c.Action = Remove
		default:
			c.Action = KeepDropped
		}
		changes = append(changes, c)
	}
	return changes, nil
}

func index(p *generator.Plan) map[string]generator.File {
	m := make(map[string]generator.File, len(p.Files))
	for _, f := range p.Files {
		m[f.Path] = f
	}
	return m
}

// Summary counts changes by action, in the order of the Action constants.
func Summary(changes []Change) string {
	counts := map[Action]int{}
	for _, c := range changes {
		counts[c.Action]++
	}
	var b bytes.Buffer
	for a := Update; a <= Regenerate; a++ {
		if counts[a] == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%d %s", counts[a], a)
	}
	if b.Len() == 0 {
		return "nothing to change"
	}
	return b.String()
}

// Conflicts lists the paths left with conflict markers.
func Conflicts(changes []Change) []string {
	var paths []string
	for _, c := range changes {
		if c.Action == Conflict {
			paths = append(paths, c.Path)
		}
	}
	return paths
}

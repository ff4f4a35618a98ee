package transition

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/semver"

	"github.com/saaskit/saaskit/generator"
)

func isModuleFile(p string) bool {
	switch p {
	case "go.mod", "go.sum", "tools.mod", "tools.sum":
		return true
	}
	return false
}

// Resolve fills in the content of every Regenerate change: module files are
// merged semantically and sqlc output is produced from the queries as they
// will be after the text merge. Changes that turn out to change nothing are
// dropped. It writes nothing.
//
// When sqlc fails on the merged queries (a conflict left markers in a .sql
// file, or a user's query no longer fits the kit's schema), the query code
// is left as it is and sqlcErr says why; the other changes still stand, so
// the upgrade can be written and the queries fixed afterwards.
func Resolve(changes []Change, theirs *generator.Plan, root string) (resolved []Change, sqlcErr, err error) {
	t := index(theirs)

	// sqlc's inputs after the merge: the working tree's .sql files and
	// sqlc.yaml, with the planned changes applied.
	inputs, err := sqlcInputs(root)
	if err != nil {
		return nil, nil, err
	}
	for _, c := range changes {
		if c.Path == "sqlc.yaml" || strings.HasSuffix(c.Path, ".sql") {
			switch {
			case c.Action == Remove:
				delete(inputs, c.Path)
			case c.New != nil:
				inputs[c.Path] = c.New
			}
		}
	}
	var generated []generator.File
	if sameSQLCInputs(inputs, theirs) {
		// The merged queries are the kit's (the user changed none of
		// them): its render already holds sqlc's output for them.
		for _, f := range theirs.Files {
			if f.Generated {
				generated = append(generated, f)
			}
		}
	} else {
		files := make([]generator.File, 0, len(inputs))
		for p, content := range inputs {
			files = append(files, generator.File{Path: p, Content: content})
		}
		sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
		generated, sqlcErr = generator.SQLC(files)
	}
	sqlcOut := map[string][]byte{}
	for _, f := range generated {
		sqlcOut[f.Path] = f.Content
	}

	seen := map[string]bool{}
	var out []Change
	for _, c := range changes {
		seen[c.Path] = true
		if c.Action != Regenerate || c.Done {
			out = append(out, c)
			continue
		}
		switch {
		case strings.HasSuffix(c.Path, ".mod"):
			c.New, err = MergeModFile(c.Old, t[c.Path].Content)
		case strings.HasSuffix(c.Path, ".sum"):
			c.New = MergeSum(c.Old, t[c.Path].Content)
		case sqlcErr != nil:
			continue // sqlc's output stays as it is
		default:
			var ok bool
			if c.New, ok = sqlcOut[c.Path]; !ok {
				c.Action = Remove // sqlc no longer produces it
			}
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", c.Path, err)
		}
		if c.Action == Regenerate && bytes.Equal(c.New, c.Old) {
			continue
		}
		out = append(out, c)
	}
	// Output for queries the user added stays in step too.
	for p, content := range sqlcOut {
		if seen[p] {
			continue
		}
		old, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(p)))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, nil, err
		}
		if !bytes.Equal(old, content) {
			out = append(out, Change{Path: p, Action: Regenerate, Old: old, New: content, Mode: 0o644})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, sqlcErr, nil
}

// sameSQLCInputs reports whether inputs are exactly the sqlc inputs
// (sqlc.yaml and .sql files) of the plan, and the plan holds sqlc's output.
func sameSQLCInputs(inputs map[string][]byte, plan *generator.Plan) bool {
	n, generated := 0, false
	for _, f := range plan.Files {
		generated = generated || f.Generated
		if f.Path != "sqlc.yaml" && !strings.HasSuffix(f.Path, ".sql") {
			continue
		}
		n++
		if in, ok := inputs[f.Path]; !ok || !bytes.Equal(in, f.Content) {
			return false
		}
	}
	return generated && n == len(inputs)
}

// sqlcInputs reads sqlc.yaml and every .sql file of the working tree.
func sqlcInputs(root string) (map[string][]byte, error) {
	inputs := map[string][]byte{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != root && (strings.HasPrefix(name, ".") || name == "vendor" || name == "node_modules" || name == "testdata") {
				return fs.SkipDir
			}
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if rel == "sqlc.yaml" || strings.HasSuffix(name, ".sql") {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			inputs[rel] = b
		}
		return nil
	})
	return inputs, err
}

// MergeModFile merges the kit's go.mod (theirs) into the repository's
// (ours): the user's requirements, replacements and module path stay, the
// kit's pins are added or raised (never lowered), its tools and go version
// are carried over when newer. With no go.mod in the repository, the kit's
// is taken as is.
func MergeModFile(ours, theirs []byte) ([]byte, error) {
	if ours == nil {
		return theirs, nil
	}
	o, err := modfile.Parse("go.mod", ours, nil)
	if err != nil {
		return nil, err
	}
	t, err := modfile.Parse("go.mod", theirs, nil)
	if err != nil {
		return nil, err
	}
	have := map[string]*modfile.Require{}
	for _, r := range o.Require {
		have[r.Mod.Path] = r
	}
	for _, r := range t.Require {
		cur, ok := have[r.Mod.Path]
		switch {
		case !ok:
			o.AddNewRequire(r.Mod.Path, r.Mod.Version, r.Indirect)
		case semver.Compare(cur.Mod.Version, r.Mod.Version) < 0:
			if err := o.AddRequire(r.Mod.Path, r.Mod.Version); err != nil {
				return nil, err
			}
		}
	}
	if t.Go != nil && (o.Go == nil || semver.Compare("v"+o.Go.Version, "v"+t.Go.Version) < 0) {
		if err := o.AddGoStmt(t.Go.Version); err != nil {
			return nil, err
		}
	}
	for _, tool := range t.Tool {
		if err := o.AddTool(tool.Path); err != nil {
			return nil, err
		}
	}
	o.SetRequireSeparateIndirect(o.Require)
	o.Cleanup()
	return o.Format()
}

// MergeSum adds the kit's go.sum lines (theirs) missing from the
// repository's (ours), keeping ours as it is otherwise; `go mod tidy` then
// prunes what the merged module graph no longer needs.
func MergeSum(ours, theirs []byte) []byte {
	have := map[string]bool{}
	for _, l := range strings.Split(string(ours), "\n") {
		have[strings.TrimSpace(l)] = true
	}
	out := bytes.Clone(ours)
	if len(out) > 0 && !bytes.HasSuffix(out, []byte("\n")) {
		out = append(out, '\n')
	}
	for _, l := range strings.Split(string(theirs), "\n") {
		if l = strings.TrimSpace(l); l != "" && !have[l] {
			out = append(out, l+"\n"...)
			have[l] = true
		}
	}
	return out
}

// Apply writes the changes under root. Each file is replaced atomically
// (a temporary file beside it, then a rename), so an interrupted upgrade
// leaves every file either old or new; the journal Run writes first lets a
// rerun tell which.
func Apply(changes []Change, root string) error {
	return apply(changes, root, nil)
}

// apply is Apply with a hook called before each write; an error from it
// stops the writing there (tests interrupt an upgrade with it).
func apply(changes []Change, root string, before func(path string) error) error {
	root = filepath.Clean(root)
	for _, c := range changes {
		if !c.Writes() {
			continue
		}
		if before != nil {
			if err := before(c.Path); err != nil {
				return err
			}
		}
		dst := filepath.Join(root, filepath.FromSlash(c.Path))
		if !filepath.IsLocal(filepath.FromSlash(c.Path)) {
			return fmt.Errorf("refusing to write %q: outside the repository", c.Path)
		}
		if c.Action == Remove {
			if err := os.Remove(dst); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			// Directories the kit's files were the last thing in go too.
			for dir := filepath.Dir(dst); dir != root && strings.HasPrefix(dir, root); dir = filepath.Dir(dir) {
				if os.Remove(dir) != nil {
					break
				}
			}
			continue
		}
		if err := WriteFileAtomic(dst, c.New, c.Mode); err != nil {
			return err
		}
	}
	return nil
}

// WriteFileAtomic replaces path with content through a temporary file in
// the same directory. An existing file keeps its permissions.
func WriteFileAtomic(path string, content []byte, mode fs.FileMode) error {
	if info, err := os.Stat(path); err == nil {
		mode = info.Mode().Perm()
	} else if mode == 0 {
		mode = 0o644
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".saaskit-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(content); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// GitMerger merges with `git merge-file`, the merge git itself performs,
// labelling the conflict sides.
func GitMerger(ctx context.Context, oursLabel, baseLabel, theirsLabel string) Merger {
	return func(path string, base, ours, theirs []byte) ([]byte, bool, error) {
		dir, err := os.MkdirTemp("", "saaskit-merge-*")
		if err != nil {
			return nil, false, err
		}
		defer os.RemoveAll(dir)
		names := []string{"ours", "base", "theirs"}
		for i, content := range [][]byte{ours, base, theirs} {
			if err := os.WriteFile(filepath.Join(dir, names[i]), content, 0o600); err != nil {
				return nil, false, err
			}
		}
		cmd := exec.CommandContext(ctx, "git", "merge-file", "-p",
			"-L", oursLabel, "-L", baseLabel, "-L", theirsLabel, "ours", "base", "theirs")
		cmd.Dir = dir
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err = cmd.Run()
		var exit *exec.ExitError
		switch {
		case err == nil:
			return stdout.Bytes(), false, nil
		case errors.As(err, &exit) && exit.ExitCode() > 0 && exit.ExitCode() < 128:
			// The exit code counts the conflicts.
			return stdout.Bytes(), true, nil
		default:
			return nil, false, fmt.Errorf("git merge-file %s: %w: %s", path, err, strings.TrimSpace(stderr.String()))
		}
	}
}

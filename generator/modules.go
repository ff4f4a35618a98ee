package generator

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/mod/modfile"
)

// The generated go.mod and go.sum are not templates: they come from lock
// files, one pair per set of direct modules the answers select, made
// by `go mod tidy` over a rendered repository (UpdateLocks). That keeps the
// generated module graph exactly the one the kit's tests built, with no
// `go mod tidy` needed after generation. sqlc is pinned the same way in
// tools.mod, a separate modfile so its ~50 requirements stay out of the
// app's version selection.
const (
	goModFile    = "go.mod"
	goSumFile    = "go.sum"
	toolsModFile = "tools.mod"
	toolsSumFile = "tools.sum"
	toolsLock    = "tools"
)

// LockName names the lock of the direct module set the answers select:
// "mods-" and a short hash of the sorted module paths. Answers that need the
// same modules share a lock, so options that add no module (or the same
// ones) do not multiply locks; versions are left out of the name and
// checked against the lock's content instead, so moving a pin reports a
// stale lock rather than a missing one.
func (bp *Blueprint) LockName(a Answers) string {
	var paths []string
	for _, m := range bp.requirements(a) {
		paths = append(paths, m.Path)
	}
	slices.Sort(paths)
	sum := sha256.Sum256([]byte(strings.Join(paths, "\n")))
	return "mods-" + hex.EncodeToString(sum[:6])
}

// LockAnswers lists one complete answer set per lock, defaults elsewhere:
// every combination of the questions the modules' conditions mention,
// keeping the first answer set of each module set.
func (bp *Blueprint) LockAnswers(base Answers) ([]Answers, error) {
	var keys []string
	for _, m := range bp.Modules {
		for k := range m.When {
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	slices.Sort(keys)
	sets := []Answers{base.Clone()}
	for _, k := range keys {
		var next []Answers
		for _, s := range sets {
			for _, v := range bp.Question(k).Values() {
				a := s.Clone()
				a[k] = v
				next = append(next, a)
			}
		}
		sets = next
	}
	var out []Answers
	seen := map[string]bool{}
	for _, s := range sets {
		c, err := bp.Complete(s)
		if err != nil {
			return nil, err
		}
		if name := bp.LockName(c); !seen[name] {
			seen[name] = true
			out = append(out, c)
		}
	}
	return out, nil
}

// requirements lists the blueprint's direct requirements for the answers.
func (bp *Blueprint) requirements(a Answers) []Module {
	var mods []Module
	for _, m := range bp.Modules {
		if m.When.Holds(a) {
			mods = append(mods, m)
		}
	}
	return mods
}

func (bp *Blueprint) readLock(name, ext string) ([]byte, error) {
	if bp.locks == nil {
		return nil, fmt.Errorf("blueprint %s has no locks; run `go generate ./generator`", bp.Name)
	}
	b, err := fs.ReadFile(bp.locks, name+ext)
	if err != nil {
		return nil, fmt.Errorf("lock %s%s: %w; run `go generate ./generator`", name, ext, err)
	}
	return b, nil
}

// addModuleFiles adds go.mod, go.sum, tools.mod and tools.sum from the locks,
// with the module path set to the answer.
func addModuleFiles(plan *Plan, bp *Blueprint, a Answers) error {
	name := bp.LockName(a)
	mod, err := lockedModFile(bp, name, a["module"])
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no lock %s for the modules these answers need (%s): the lock is stale; run `go generate ./generator`", name, modulePaths(bp.requirements(a)))
	}
	if err != nil {
		return err
	}
	if err := checkDirect(mod, bp.requirements(a)); err != nil {
		return fmt.Errorf("lock %s.mod is stale (%w); run `go generate ./generator`", name, err)
	}
	tools, err := lockedModFile(bp, toolsLock, a["module"])
	if err != nil {
		return err
	}
	if err := checkTools(tools, bp.Tools); err != nil {
		return fmt.Errorf("lock %s.mod is stale (%w); run `go generate ./generator`", toolsLock, err)
	}
	for _, f := range []struct {
		lock, out string
		mod       *modfile.File
	}{{name, goModFile, mod}, {toolsLock, toolsModFile, tools}} {
		content, err := f.mod.Format()
		if err != nil {
			return fmt.Errorf("format %s: %w", f.out, err)
		}
		plan.add(File{Path: f.out, Content: content})
		sum, err := bp.readLock(f.lock, ".sum")
		if err != nil {
			return err
		}
		plan.add(File{Path: strings.TrimSuffix(f.out, ".mod") + ".sum", Content: sum})
	}
	return nil
}

func modulePaths(mods []Module) string {
	paths := make([]string, len(mods))
	for i, m := range mods {
		paths[i] = m.Path
	}
	return strings.Join(paths, ", ")
}

func lockedModFile(bp *Blueprint, name, module string) (*modfile.File, error) {
	raw, err := bp.readLock(name, ".mod")
	if err != nil {
		return nil, err
	}
	f, err := modfile.Parse(name+".mod", raw, nil)
	if err != nil {
		return nil, err
	}
	if err := f.AddModuleStmt(module); err != nil {
		return nil, err
	}
	f.Cleanup()
	return f, nil
}

// checkDirect verifies that the lock's direct requirements are exactly the
// blueprint's, at the blueprint's versions.
func checkDirect(f *modfile.File, want []Module) error {
	var errs []error
	direct := map[string]string{}
	for _, r := range f.Require {
		if !r.Indirect {
			direct[r.Mod.Path] = r.Mod.Version
		}
	}
	for _, m := range want {
		got, ok := direct[m.Path]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%s not required", m.Path))
		case got != m.Version:
			errs = append(errs, fmt.Errorf("%s at %s, blueprint pins %s", m.Path, got, m.Version))
		}
		delete(direct, m.Path)
	}
	for p := range direct {
		errs = append(errs, fmt.Errorf("%s required but not in the blueprint", p))
	}
	return errors.Join(errs...)
}

func checkTools(f *modfile.File, want []Module) error {
	var errs []error
	for _, m := range want {
		i := slices.IndexFunc(f.Require, func(r *modfile.Require) bool { return r.Mod.Path == m.Path })
		switch {
		case i < 0:
			errs = append(errs, fmt.Errorf("%s not required", m.Path))
		case f.Require[i].Mod.Version != m.Version:
			errs = append(errs, fmt.Errorf("%s at %s, blueprint pins %s", m.Path, f.Require[i].Mod.Version, m.Version))
		}
		if !slices.ContainsFunc(f.Tool, func(t *modfile.Tool) bool { return t.Path == m.Package }) {
			errs = append(errs, fmt.Errorf("no tool %s", m.Package))
		}
	}
	return errors.Join(errs...)
}

// UpdateLocks rebuilds every lock of bp under dir: for each lock it renders
// a repository, writes the blueprint's direct requirements and lets
// `go mod tidy` resolve the rest. It needs the go command and the module
// proxy (or a warm module cache); it is how the kit's maintainers move pins.
func UpdateLocks(bp *Blueprint, tree fs.FS, dir, kitVersion string, log func(string)) error {
	base := Answers{"name": "lockapp"}
	sets, err := bp.LockAnswers(base)
	if err != nil {
		return err
	}
	keep := map[string]bool{toolsLock: true}
	for _, a := range sets {
		name := bp.LockName(a)
		keep[name] = true
		log("lock " + name)
		plan, err := renderTemplates(bp, tree, Input{Answers: a, KitVersion: kitVersion})
		if err != nil {
			return err
		}
		if err := runSQLC(plan); err != nil {
			return err
		}
		mod := &modfile.File{}
		if err := mod.AddModuleStmt(a["module"]); err != nil {
			return err
		}
		if err := mod.AddGoStmt("1.26.0"); err != nil {
			return err
		}
		for _, m := range bp.requirements(a) {
			if err := mod.AddRequire(m.Path, m.Version); err != nil {
				return err
			}
		}
		if err := tidyInto(plan, mod, dir, name, "mod", "tidy"); err != nil {
			return err
		}
	}
	// Locks of module sets no answers select any more would only confuse.
	old, err := filepath.Glob(filepath.Join(dir, "*.mod"))
	if err != nil {
		return err
	}
	for _, f := range old {
		if name := strings.TrimSuffix(filepath.Base(f), ".mod"); !keep[name] {
			log("remove lock " + name)
			for _, ext := range []string{".mod", ".sum"} {
				if err := os.Remove(filepath.Join(dir, name+ext)); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return err
				}
			}
		}
	}
	log("lock " + toolsLock)
	mod := &modfile.File{}
	if err := mod.AddModuleStmt("example.com/tools"); err != nil {
		return err
	}
	if err := mod.AddGoStmt("1.26.0"); err != nil {
		return err
	}
	args := []string{"get", "-tool"}
	for _, m := range bp.Tools {
		args = append(args, m.Package+"@"+m.Version)
	}
	return tidyInto(&Plan{}, mod, dir, toolsLock, args...)
}

// tidyInto writes plan and mod to a scratch directory, runs the go command
// there and stores the resulting go.mod and go.sum as lock name.
func tidyInto(plan *Plan, mod *modfile.File, dir, name string, goArgs ...string) error {
	tmp, err := os.MkdirTemp("", "saaskit-lock-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := writeTree(tmp, plan.Files); err != nil {
		return err
	}
	content, err := mod.Format()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, goModFile), content, 0o644); err != nil {
		return err
	}
	cmd := exec.Command("go", goArgs...)
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s for lock %s: %w\n%s", strings.Join(goArgs, " "), name, err, out)
	}
	for ext, file := range map[string]string{".mod": goModFile, ".sum": goSumFile} {
		b, err := os.ReadFile(filepath.Join(tmp, file))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name+ext), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

package generator

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteOptions control Write.
type WriteOptions struct {
	// Force allows writing into a non-empty directory; planned files
	// replace existing ones, other files are left alone.
	Force bool
}

// TargetError reports a target directory that cannot be written.
type TargetError struct {
	Dir    string
	Reason string
}

func (e *TargetError) Error() string { return fmt.Sprintf("%s: %s", e.Dir, e.Reason) }

// CheckTarget reports whether dir can receive a new repository, before
// anything is rendered or written.
func CheckTarget(dir string, force bool) error {
	info, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		parent := filepath.Dir(dir)
		pinfo, perr := os.Stat(parent)
		if perr != nil {
			return &TargetError{dir, fmt.Sprintf("parent directory %s does not exist", parent)}
		}
		if !pinfo.IsDir() {
			return &TargetError{dir, fmt.Sprintf("%s is not a directory", parent)}
		}
		return checkWritable(parent, dir)
	case err != nil:
		// ENOTDIR and the like: name the first ancestor that is a file.
		for p := filepath.Dir(dir); p != filepath.Dir(p); p = filepath.Dir(p) {
			if pinfo, perr := os.Stat(p); perr == nil && !pinfo.IsDir() {
				return &TargetError{dir, fmt.Sprintf("%s is not a directory", p)}
			}
		}
		return &TargetError{dir, err.Error()}
	case !info.IsDir():
		return &TargetError{dir, "exists and is a file, not a directory"}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return &TargetError{dir, err.Error()}
	}
	if len(entries) > 0 && !force {
		return &TargetError{dir, "directory is not empty (pass --force to write into it)"}
	}
	return checkWritable(filepath.Dir(dir), dir)
}

// checkWritable proves that a temporary directory can be made in parent,
// which is what Write needs.
func checkWritable(parent, dir string) error {
	tmp, err := os.MkdirTemp(parent, ".saaskit-check-*")
	if err != nil {
		return &TargetError{dir, fmt.Sprintf("cannot write in %s: %v", parent, errors.Unwrap(err))}
	}
	return os.Remove(tmp)
}

// Write puts a plan on disk under dir. The plan is first written to a
// temporary directory beside dir, then moved into place, so a failure
// leaves no half-written repository. No path outside dir is ever written.
func Write(plan *Plan, dir string, opts WriteOptions) error {
	dir = filepath.Clean(dir)
	// A symbolic link to a directory is written through: the repository
	// goes into the link's target, and the link stays.
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	if err := CheckTarget(dir, opts.Force); err != nil {
		return err
	}
	for _, f := range plan.Files {
		if !filepath.IsLocal(filepath.FromSlash(f.Path)) {
			return fmt.Errorf("refusing to write %q: outside the target directory", f.Path)
		}
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+".saaskit-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	// MkdirTemp makes the directory private; the repository should get
	// the usual permissions, as a directory made by mkdir would.
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := writeTree(tmp, plan.Files); err != nil {
		return err
	}

	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return os.Rename(tmp, dir)
	case err != nil:
		return err
	case len(entries) == 0:
		// An empty directory is replaced whole; keep its permissions.
		if info, err := os.Stat(dir); err == nil {
			if err := os.Chmod(tmp, info.Mode().Perm()); err != nil {
				return err
			}
		}
		if err := os.Remove(dir); err != nil {
			return err
		}
		return os.Rename(tmp, dir)
	}
	// --force into a non-empty directory: move each file into place; each
	// replacement is atomic.
	for _, f := range plan.Files {
		dst := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.Rename(filepath.Join(tmp, filepath.FromSlash(f.Path)), dst); err != nil {
			return err
		}
	}
	return nil
}

// writeTree writes files under root, which must exist.
func writeTree(root string, files []File) error {
	for _, f := range files {
		if !filepath.IsLocal(filepath.FromSlash(f.Path)) {
			return fmt.Errorf("refusing to write %q: outside the target directory", f.Path)
		}
		dst := filepath.Join(root, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		mode := f.Mode
		if mode == 0 {
			mode = 0o644
		}
		if err := os.WriteFile(dst, f.Content, mode); err != nil {
			return err
		}
	}
	return nil
}

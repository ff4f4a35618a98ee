package transition

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/saaskit/saaskit/generator"
)

// JournalName is the file an upgrade in progress keeps in the git directory.
//
// Before writing anything, Run records there what it is about to do: the
// record it moves to (the target) and, for every path, the content's hash
// before and after. A rerun that finds the journal knows which files the
// interrupted run already wrote, so it neither refuses them as uncommitted
// work nor merges them a second time (which would nest conflict markers).
// It lives in the git directory, not the work tree: it is local state of
// one checkout, never to be committed, and outside the tree it neither
// makes the tree dirty nor shows up in the diff of the upgrade. A directory
// that is not a git work tree (upgraded with --force) keeps it at its root.
const JournalName = "saaskit-upgrade.json"

// Journal is an upgrade in progress.
type Journal struct {
	// Target is the record the upgrade writes to .saaskit.yaml when it
	// completes; it names the kit version and answers being moved to.
	Target string         `json:"target"`
	Files  []JournalEntry `json:"files"`
}

// JournalEntry is one path the upgrade writes. Hashes are hex SHA-256; an
// empty hash stands for an absent file.
type JournalEntry struct {
	Path   string `json:"path"`
	Action string `json:"action"`
	Old    string `json:"old"`
	New    string `json:"new"`
}

func hashOf(content []byte, present bool) string {
	if !present {
		return ""
	}
	sum := sha256.Sum256(content)
	return hex.EncodeToString(sum[:])
}

// hashFile hashes the file at rel under root, "" when it is absent.
func hashFile(root, rel string) (string, []byte, error) {
	b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil, nil
	}
	if err != nil {
		return "", nil, err
	}
	return hashOf(b, true), b, nil
}

// journalPath is where the journal of the repository at root lives. An app
// in a subdirectory of a git work tree gets a journal of its own (named
// after its path in the tree), so that two apps in one repository never
// share one.
func journalPath(ctx context.Context, env Env, root string) string {
	out, err := env.Exec(ctx, root, nil, "git", "rev-parse", "--absolute-git-dir", "--show-prefix")
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if err != nil || len(lines) == 0 || !filepath.IsAbs(lines[0]) {
		return filepath.Join(root, "."+JournalName)
	}
	name := JournalName
	if len(lines) > 1 && lines[1] != "" {
		sum := sha256.Sum256([]byte(lines[1]))
		name = strings.TrimSuffix(JournalName, ".json") + "-" + hex.EncodeToString(sum[:6]) + ".json"
	}
	return filepath.Join(lines[0], name)
}

// loadJournal reads the repository's journal, nil when no upgrade is in
// progress. A journal whose target is already the record (the run was
// interrupted after writing the record, before removing the journal) is
// finished: it is removed and nil returned.
func (r *Repo) loadJournal(ctx context.Context, env Env) (*Journal, string, error) {
	path := journalPath(ctx, env, r.Root)
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, path, nil
	}
	if err != nil {
		return nil, path, err
	}
	var j Journal
	if err := json.Unmarshal(raw, &j); err != nil {
		return nil, path, fmt.Errorf("%s is not an upgrade journal (%v); delete it if no saaskit upgrade was interrupted", path, err)
	}
	rec, err := os.ReadFile(filepath.Join(r.Root, generator.RecordFile))
	if err != nil {
		return nil, path, err
	}
	if string(rec) == j.Target {
		if err := os.Remove(path); err != nil {
			return nil, path, err
		}
		return nil, path, nil
	}
	return &j, path, nil
}

// preflight runs before anything is rendered: it refuses a dirty work tree
// (unless force) when no interrupted upgrade is waiting to be finished.
// With a journal, Run decides once it knows the target, since the tree is
// then expected to hold the interrupted run's writes.
func (r *Repo) preflight(ctx context.Context, env Env, force bool) error {
	j, _, err := r.loadJournal(ctx, env)
	if err != nil || j != nil || force {
		return err
	}
	return r.CheckClean(ctx, env)
}

// JournalMismatchError reports an interrupted upgrade to another target
// than the one asked for.
type JournalMismatchError struct {
	Path    string
	Pending *generator.Record // the interrupted run's target; nil if unreadable
	Rerun   string
}

func (e *JournalMismatchError) Error() string {
	what := "another kit version or other options"
	if e.Pending != nil {
		var opts []string
		keys := make([]string, 0, len(e.Pending.Answers))
		for k := range e.Pending.Answers {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			opts = append(opts, k+"="+e.Pending.Answers[k])
		}
		what = fmt.Sprintf("saaskit %s with %s", e.Pending.KitVersion, strings.Join(opts, " "))
	}
	return fmt.Sprintf("an interrupted upgrade to %s is not finished (journal: %s).\n"+
		"Finish it first: rerun the command that started it with the saaskit that started it, then run %s again.\n"+
		"Or abandon it: restore the work tree (git restore --staged --worktree . && git clean -fd) and delete %s.",
		what, e.Path, e.Rerun, e.Path)
}

// checkResumable accepts a work tree whose only uncommitted changes are the
// journal's paths, each holding its content from before the upgrade or the
// content the upgrade planned (module files: any content, see markDone),
// plus the temporary files an interrupted atomic write leaves behind, which
// it removes.
func (r *Repo) checkResumable(ctx context.Context, env Env, j *Journal) error {
	out, err := env.Exec(ctx, r.Root, nil, "git", "status", "--porcelain", "-z", "--untracked-files=all", "--", ".")
	if err != nil {
		return fmt.Errorf("%s is not a git work tree, so the interrupted upgrade's writes could not be told from other work; pass --force to finish it anyway (%v)", r.Root, err)
	}
	prefixOut, err := env.Exec(ctx, r.Root, nil, "git", "rev-parse", "--show-prefix")
	if err != nil {
		return err
	}
	prefix := strings.TrimSpace(string(prefixOut))
	entries := map[string]JournalEntry{}
	for _, e := range j.Files {
		entries[e.Path] = e
	}
	var bad, leftovers []string
	fields := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	for i := 0; i < len(fields); i++ {
		f := fields[i]
		if len(f) < 4 {
			continue
		}
		status, path := f[:2], strings.TrimPrefix(f[3:], prefix)
		if status[0] == 'R' || status[0] == 'C' {
			i++ // the rename's source follows
			bad = append(bad, f)
			continue
		}
		e, ok := entries[path]
		if !ok {
			if status == "??" && isTempLeftover(path, entries) {
				leftovers = append(leftovers, path)
				continue
			}
			if isModuleFile(path) {
				// Not planned, but `go mod tidy` (or resolving tools.mod's
				// tools) may have rewritten it before failing; the rerun
				// makes the module files consistent again anyway.
				continue
			}
			bad = append(bad, f)
			continue
		}
		h, _, err := hashFile(r.Root, path)
		if err != nil {
			return err
		}
		if h != e.Old && h != e.New && !isModuleFile(path) {
			bad = append(bad, f+" (changed since the interrupted upgrade wrote it)")
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("an interrupted upgrade is being finished, but the work tree has other uncommitted changes; commit or stash them first, or pass --force:\n%s", strings.Join(bad, "\n"))
	}
	for _, p := range leftovers {
		if err := os.Remove(filepath.Join(r.Root, filepath.FromSlash(p))); err != nil {
			return err
		}
	}
	return nil
}

// isTempLeftover reports whether path is a temporary file WriteFileAtomic
// made for one of the journal's paths.
func isTempLeftover(path string, entries map[string]JournalEntry) bool {
	dir, name := filepath.Split(filepath.FromSlash(path))
	name, ok := strings.CutPrefix(name, ".")
	if !ok {
		return false
	}
	target, _, ok := strings.Cut(name, ".saaskit-")
	if !ok {
		return false
	}
	_, ok = entries[filepath.ToSlash(filepath.Join(dir, target))]
	return ok
}

// markDone replaces the changes of paths the interrupted run already wrote
// with their journalled outcome, so they are reported as before and not
// merged again. A module file that no longer holds its old content counts
// as written too: it may have been fixed by hand after `go mod tidy` failed,
// and is tidied again anyway.
func markDone(changes []Change, j *Journal, root string) ([]Change, error) {
	byPath := map[string]int{}
	for i, c := range changes {
		byPath[c.Path] = i
	}
	for _, e := range j.Files {
		if e.Path == generator.RecordFile {
			continue // written last, by Run
		}
		h, content, err := hashFile(root, e.Path)
		if err != nil {
			return nil, err
		}
		if h != e.New && (h == e.Old || !isModuleFile(e.Path)) {
			continue
		}
		action, ok := actionByName(e.Action)
		if !ok {
			return nil, fmt.Errorf("upgrade journal: unknown action %q for %s", e.Action, e.Path)
		}
		done := Change{Path: e.Path, Action: action, Old: content, New: content, Done: true}
		if i, ok := byPath[e.Path]; ok {
			done.Mode = changes[i].Mode
			changes[i] = done
		} else {
			byPath[e.Path] = len(changes)
			changes = append(changes, done)
		}
	}
	sort.Slice(changes, func(a, b int) bool { return changes[a].Path < changes[b].Path })
	return changes, nil
}

// checkPlan makes sure the rerun plans what the interrupted run journalled
// for every path it has still to write: the inputs are the same, so the
// results must be.
func checkPlan(changes []Change, j *Journal) error {
	planned := map[string]string{}
	for _, e := range j.Files {
		planned[e.Path] = e.New
	}
	var diverged []string
	for _, c := range changes {
		if c.Done || !c.Writes() {
			continue
		}
		h, ok := planned[c.Path]
		if !ok || h != hashOf(c.New, c.Action != Remove) {
			diverged = append(diverged, c.Path)
		}
	}
	if len(diverged) > 0 {
		return fmt.Errorf("the upgrade now plans other content than the interrupted run did for:\n  %s\nRestore the work tree (git restore --staged --worktree . && git clean -fd), delete the journal, and run the upgrade again", strings.Join(diverged, "\n  "))
	}
	return nil
}

// newJournal describes the writes of changes, then the record's.
func newJournal(changes []Change, root string, target []byte) (*Journal, error) {
	j := &Journal{Target: string(target)}
	for _, c := range changes {
		if !c.Writes() && !c.Done {
			continue
		}
		old := hashOf(c.Old, c.Old != nil)
		if c.Done {
			// Written already; what it held before is no longer known here
			// and no longer matters.
			old = hashOf(c.New, c.Action != Remove)
		}
		j.Files = append(j.Files, JournalEntry{Path: c.Path, Action: c.Action.name(), Old: old, New: hashOf(c.New, c.Action != Remove)})
	}
	h, _, err := hashFile(root, generator.RecordFile)
	if err != nil {
		return nil, err
	}
	j.Files = append(j.Files, JournalEntry{Path: generator.RecordFile, Action: Update.name(), Old: h, New: hashOf(target, true)})
	return j, nil
}

func writeJournal(path string, j *Journal) error {
	raw, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, append(raw, '\n'), 0o644)
}

// name is an action's stable identifier in the journal.
func (a Action) name() string {
	return strings.ReplaceAll(a.String(), " ", "-")
}

func actionByName(s string) (Action, bool) {
	for a := Update; a <= Regenerate; a++ {
		if a.name() == s {
			return a, true
		}
	}
	return 0, false
}

// pendingRecord parses a journal's target for messages; nil if it cannot.
func pendingRecord(j *Journal) *generator.Record {
	rec, err := generator.ParseRecord([]byte(j.Target))
	if err != nil {
		return nil
	}
	return rec
}

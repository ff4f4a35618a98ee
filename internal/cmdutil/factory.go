package cmdutil

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/saaskit/saaskit/generator"
)

// Factory gives commands their side effects, so tests can swap each one.
type Factory struct {
	IOStreams  *IOStreams
	KitVersion string
	Getenv     func(string) string
	// Prompter asks blueprint questions interactively.
	Prompter func(accessible bool) Prompter
	// Git runs git in a directory.
	Git func(ctx context.Context, dir string, args ...string) error
	// Exec runs other programs (go, git) and returns their output.
	Exec Executor
	// Renderer renders records with the kit compiled into this build, in
	// process. Every command renders through it (or VersionRenderer), so
	// tests can swap in a faster or fake one.
	Renderer generator.Renderer
	// VersionRenderer renders a record with the saaskit version the record
	// names, when that is not this build: the base of an upgrade.
	VersionRenderer generator.Renderer
}

// Prompter asks questions and stores the answers. A question's default is
// def(q, answers so far). With confirm set, the questions end with a
// summary of the answers and confirm, a yes-or-no question; no returns
// ErrCancel and stores nothing.
type Prompter interface {
	Ask(qs []*generator.Question, answers generator.Answers, def DefaultFunc, confirm string) error
}

// DefaultFunc computes a question's default from the answers so far.
type DefaultFunc func(q *generator.Question, answers generator.Answers) (string, error)

// RunGit runs the git binary, returning its output in the error on failure.
func RunGit(ctx context.Context, dir string, args ...string) error {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// FlagError is a usage mistake; the command's usage line follows it.
type FlagError struct{ Err error }

func (e *FlagError) Error() string { return e.Err.Error() }
func (e *FlagError) Unwrap() error { return e.Err }

// FlagErrorf builds a FlagError.
func FlagErrorf(format string, args ...any) error {
	return &FlagError{Err: fmt.Errorf(format, args...)}
}

// ErrCancel reports that the user stopped a prompt; it exits quietly.
var ErrCancel = errors.New("cancelled")

// Executor runs a program in dir with extra environment entries (which
// override the process's) and returns its combined output.
type Executor func(ctx context.Context, dir string, env []string, name string, args ...string) ([]byte, error)

// Exec runs programs for real.
func Exec(ctx context.Context, dir string, env []string, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return out, nil
}

// Package new implements `saaskit new`.
package new

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/saaskit/saaskit/generator"
	"github.com/saaskit/saaskit/internal/cmdutil"
	"github.com/saaskit/saaskit/internal/kit"
)

// Options is everything `saaskit new` needs; NewCmdNew fills it from flags.
type Options struct {
	IO         *cmdutil.IOStreams
	KitVersion string
	Prompter   func(accessible bool) cmdutil.Prompter
	Git        func(ctx context.Context, dir string, args ...string) error
	Blueprint  *generator.Blueprint
	Renderer   generator.Renderer

	Dir        string            // target directory
	Answers    generator.Answers // options given as flags
	Yes        bool
	DryRun     bool
	Force      bool
	NoGit      bool
	Accessible bool
}

// NewCmdNew builds `saaskit new`. Its flags come from the app blueprint's
// questions. runF replaces newRun in tests.
func NewCmdNew(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	// The blueprint's questions become flags; the render is the renderer's.
	bp, _, loadErr := kit.Load(kit.AppBlueprint)
	opts := &Options{
		IO:         f.IOStreams,
		KitVersion: f.KitVersion,
		Prompter:   f.Prompter,
		Git:        f.Git,
		Blueprint:  bp,
		Renderer:   f.Renderer,
	}
	cmd := &cobra.Command{
		Use:   "new [<directory>]",
		Short: "Generate a new SaaS backend repository",
		Long: `Generate a complete, runnable Go SaaS backend in <directory>.

Each option below is asked in a form when its flag is missing and stdin is a
terminal. Without a terminal, every option with choices must be given as a
flag, or --yes takes the defaults. --accessible (or ACCESSIBLE=1) asks with
plain numbered prompts, one answer per line, for screen readers and piped
input.

The directory defaults to ./<name>; the name defaults to the directory's
name. Nothing is written if any input is invalid, and the repository appears
all at once: it is rendered beside the target and moved into place.`,
		Example: `  # Ask for every option in a form
  saaskit new acme

  # Every option by flag, no questions
  saaskit new acme --module github.com/acme/api --tenancy schema --broker postgres --billing stripe --realtime websocket

  # Defaults for what is not given, without a first git commit
  saaskit new acme --broker redis --yes --no-git

  # Show the files that would be written, write nothing
  saaskit new acme --yes --dry-run

  # Answer the questions from a pipe, one line per question
  printf 'acme\n\n2\n1\n2\n2\n' | saaskit new acme --accessible`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if loadErr != nil {
				return loadErr
			}
			if len(args) == 1 {
				opts.Dir = args[0]
			}
			opts.Answers = generator.Answers{}
			for _, q := range bp.Questions {
				if fl := cmd.Flags().Lookup(q.Name); fl != nil && fl.Changed {
					opts.Answers[q.Name] = fl.Value.String()
				}
			}
			if !cmd.Flags().Changed("accessible") && f.Getenv != nil && isTrue(f.Getenv("ACCESSIBLE")) {
				opts.Accessible = true
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return newRun(cmd.Context(), opts)
		},
	}
	if bp != nil {
		// Help shows defaults in terms of the other options: example.com/<name>.
		symbolic := generator.Answers{}
		for _, q := range bp.Questions {
			symbolic[q.Name] = "<" + q.Name + ">"
		}
		for i := range bp.Questions {
			addQuestionFlag(cmd, &bp.Questions[i], symbolic)
		}
	}
	fl := cmd.Flags()
	fl.BoolVarP(&opts.Yes, "yes", "y", false, "Take the default for every option not given; never ask")
	fl.BoolVar(&opts.DryRun, "dry-run", false, "Print the files that would be written; write nothing")
	fl.BoolVar(&opts.Force, "force", false, "Write into a non-empty directory, replacing files the plan writes")
	fl.BoolVar(&opts.NoGit, "no-git", false, "Skip git init and the first commit")
	fl.BoolVar(&opts.Accessible, "accessible", false, "Ask with plain prompts for screen readers and piped input (also ACCESSIBLE=1)")
	return cmd
}

// addQuestionFlag derives a flag, its help and its completions from a
// blueprint question.
func addQuestionFlag(cmd *cobra.Command, q *generator.Question, symbolic generator.Answers) {
	usage := q.Title
	if len(q.Choices) > 0 {
		usage += ": " + strings.Join(q.Values(), ", ")
	}
	if def, err := q.DefaultFor(symbolic); err == nil && def != "" && def != symbolic[q.Name] {
		usage += " (default " + def + ")"
	} else if q.Name == "name" {
		usage += " (default: the directory's name)"
	}
	cmd.Flags().String(q.Name, "", usage)
	_ = cmd.RegisterFlagCompletionFunc(q.Name, func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		if len(q.Choices) == 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		comps := make([]string, len(q.Choices))
		for i, c := range q.Choices {
			comps[i] = c.Value + "\t" + c.Label
		}
		return comps, cobra.ShellCompDirectiveNoFileComp
	})
}

func isTrue(s string) bool {
	switch strings.ToLower(s) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

func newRun(ctx context.Context, opts *Options) error {
	bp := opts.Blueprint
	answers := opts.Answers.Clone()

	// Check what the flags say before anything else happens.
	var errs []error
	for _, q := range bp.Questions {
		if v, ok := answers[q.Name]; ok {
			if err := q.Check(v); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 {
		return &cmdutil.FlagError{Err: errors.Join(errs...)}
	}

	dir := opts.Dir
	if dir == "" {
		name, ok := answers["name"]
		if !ok {
			return cmdutil.FlagErrorf("give the target directory (saaskit new <directory>) or --name")
		}
		dir = name
	}
	dir = filepath.Clean(dir)
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if err := generator.CheckTarget(abs, opts.Force); err != nil {
		return err
	}
	// The directory's name is the app name's default, asked like any other.
	defaults := generator.Answers{}
	if _, ok := answers["name"]; !ok {
		name := filepath.Base(abs)
		if err := generator.ValidateAppName(name); err == nil {
			defaults["name"] = name
		} else if !interactive(opts) {
			return cmdutil.FlagErrorf("the directory name %q is not a valid app name (%v); pass --name", name, err)
		}
	}

	if err := ask(bp, answers, defaults, opts); err != nil {
		return err
	}
	if err := bp.Validate(answers); err != nil {
		return err
	}

	plan, err := opts.Renderer.Render(ctx, generator.NewRecord(bp.Name, opts.KitVersion, answers))
	if err != nil {
		return err
	}
	if opts.DryRun {
		return printPlan(opts.IO, plan, dir, answers, bp)
	}
	if err := generator.Write(plan, abs, generator.WriteOptions{Force: opts.Force}); err != nil {
		return err
	}
	stderr := opts.IO.ErrOut
	fmt.Fprintf(stderr, "Wrote %d files to %s\n", len(plan.Files), dir)
	if !opts.NoGit {
		if err := gitInit(ctx, opts, abs); err != nil {
			fmt.Fprintf(stderr, "warning: the repository was written, but git failed: %v\n", err)
		}
	}
	fmt.Fprintf(stderr, "\nNext:\n  cd %s\n  docker compose up --build     # the whole stack\n  make test                     # its tests (needs TEST_DATABASE_URL)\n", dir)
	return nil
}

// ask fills every missing answer: from defaults with --yes, from the
// prompter when a terminal (or accessible mode) can ask, and otherwise it is
// an error naming the flags to pass.
func ask(bp *generator.Blueprint, answers, defaults generator.Answers, opts *Options) error {
	def := func(q *generator.Question, a generator.Answers) (string, error) {
		if d, ok := defaults[q.Name]; ok {
			return d, nil
		}
		return q.DefaultFor(a)
	}
	var unanswered []*generator.Question
	for i := range bp.Questions {
		if _, ok := answers[bp.Questions[i].Name]; !ok {
			unanswered = append(unanswered, &bp.Questions[i])
		}
	}
	if len(unanswered) == 0 {
		return nil
	}
	if interactive(opts) {
		return opts.Prompter(opts.Accessible).Ask(unanswered, answers, def, "Generate with these options?")
	}
	var missing []string
	for _, q := range unanswered {
		if !opts.Yes && len(q.Choices) > 0 {
			missing = append(missing, "--"+q.Name)
			continue
		}
		// --yes, or a free-text option whose default derives from the target.
		d, err := def(q, answers)
		if err != nil {
			return err
		}
		answers[q.Name] = d
	}
	if len(missing) > 0 {
		return cmdutil.FlagErrorf("missing %s: stdin is not a terminal, so nothing can be asked; pass them, or --yes for the defaults", strings.Join(missing, ", "))
	}
	return nil
}

// interactive reports whether missing answers can be asked.
func interactive(opts *Options) bool {
	return !opts.Yes && (opts.Accessible || opts.IO.IsStdinTTY())
}

func printPlan(ios *cmdutil.IOStreams, plan *generator.Plan, dir string, answers generator.Answers, bp *generator.Blueprint) error {
	width, total := 0, 0
	for _, f := range plan.Files {
		total += len(f.Content)
		width = max(width, len(strconv.Itoa(len(f.Content))))
	}
	fmt.Fprintf(ios.Out, "Would write %d files to %s:\n", len(plan.Files), dir)
	for _, f := range plan.Files {
		fmt.Fprintf(ios.Out, "  %*d  %s\n", width, len(f.Content), f.Path)
	}
	fmt.Fprintf(ios.Out, "%d bytes in all. Options:", total)
	for _, q := range bp.Questions {
		fmt.Fprintf(ios.Out, " --%s=%s", q.Name, answers[q.Name])
	}
	_, err := fmt.Fprintln(ios.Out, "\nNothing was written (--dry-run).")
	return err
}

func gitInit(ctx context.Context, opts *Options, dir string) error {
	if err := opts.Git(ctx, dir, "init", "-q"); err != nil {
		return err
	}
	if err := opts.Git(ctx, dir, "add", "-A"); err != nil {
		return err
	}
	msg := "Generate with saaskit " + opts.KitVersion
	if err := opts.Git(ctx, dir, "commit", "-q", "--no-verify", "-m", msg); err != nil {
		// No git identity configured: commit as saaskit rather than leave
		// the repository without its first commit.
		return opts.Git(ctx, dir, "-c", "user.name=saaskit", "-c", "user.email=saaskit@localhost",
			"commit", "-q", "--no-verify", "-m", msg)
	}
	return nil
}

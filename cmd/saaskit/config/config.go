// Package config implements `saaskit config`.
package config

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/saaskit/saaskit/generator"
	"github.com/saaskit/saaskit/internal/cmdutil"
	"github.com/saaskit/saaskit/internal/kit"
	up "github.com/saaskit/saaskit/internal/upgrade"
)

// SetOptions is everything `saaskit config set` needs.
type SetOptions struct {
	IO         *cmdutil.IOStreams
	Exec       cmdutil.Executor
	KitVersion string

	Dir     string
	Changes map[string]string
	DryRun  bool
	Force   bool
}

// NewCmdConfig builds `saaskit config` and its subcommands.
func NewCmdConfig(f *cmdutil.Factory, runF func(context.Context, *SetOptions) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config <command>",
		Short: "Change a generated repository's options",
		Example: `  saaskit config set billing=stripe
  saaskit config set realtime=websocket broker=redis --dry-run`,
	}
	cmd.AddCommand(newCmdSet(f, runF))
	return cmd
}

func newCmdSet(f *cmdutil.Factory, runF func(context.Context, *SetOptions) error) *cobra.Command {
	opts := &SetOptions{IO: f.IOStreams, Exec: f.Exec, KitVersion: f.KitVersion}
	bp, _, loadErr := kit.Load(kit.AppBlueprint)
	cmd := &cobra.Command{
		Use:   "set <option>=<value>...",
		Short: "Change options after generation, merging the difference into your code",
		Long: `Change options recorded in .saaskit.yaml and apply the difference to the
repository: the kit renders the repository with the old answers and with the
new ones, and merges the change into your work tree exactly as 'saaskit upgrade'
does, so your edits are kept and conflicts are marked. A feature can be turned
on, or off, after generation.

Options whose change would need a data migration saaskit cannot write (such as
tenancy) are refused with an explanation. The repository must be at this
saaskit's version (run 'saaskit upgrade' first) and its work tree clean,
unless --force. Like an upgrade, a change that stopped part way is finished
by running the same command again.`,
		Example: `  # Add Stripe billing to a repository generated with --billing none
  saaskit config set billing=stripe

  # Preview switching the job broker
  saaskit config set broker=redis --dry-run

  # Turn a feature back off, in another directory
  saaskit config set realtime=none -C ./myapp`,
		Args: cobra.MinimumNArgs(1),
		ValidArgsFunction: func(_ *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
			if bp == nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var comps []string
			for _, q := range bp.Questions {
				for _, v := range q.Values() {
					comps = append(comps, q.Name+"="+v)
				}
			}
			return comps, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if loadErr != nil {
				return loadErr
			}
			opts.Changes = map[string]string{}
			for _, a := range args {
				k, v, ok := strings.Cut(a, "=")
				if !ok || k == "" {
					return cmdutil.FlagErrorf("%q is not option=value", a)
				}
				opts.Changes[k] = v
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return setRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Dir, "dir", "C", ".", "The generated repository")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "Print the changes as a unified diff; write nothing")
	cmd.Flags().BoolVar(&opts.Force, "force", false, "Apply even with uncommitted changes in the work tree")
	return cmd
}

func setRun(ctx context.Context, opts *SetOptions) error {
	repo, err := up.OpenRepo(opts.Dir)
	if err != nil {
		return err
	}
	rec := repo.Record
	bp, tree, err := kit.Load(rec.Blueprint)
	if err != nil {
		return err
	}
	var errs []error
	answers := rec.Answers.Clone()
	for k, v := range opts.Changes {
		q := bp.Question(k)
		switch {
		case q == nil:
			var names []string
			for _, q := range bp.Questions {
				names = append(names, q.Name)
			}
			errs = append(errs, fmt.Errorf("unknown option %q (options: %s)", k, strings.Join(names, ", ")))
		case q.Immutable != "" && v != rec.Answers[k]:
			errs = append(errs, fmt.Errorf("%s cannot change after generation: %s", k, q.Immutable))
		default:
			if err := q.Check(v); err != nil {
				errs = append(errs, err)
			}
			answers[k] = v
		}
	}
	if len(errs) > 0 {
		return &cmdutil.FlagError{Err: errors.Join(errs...)}
	}
	if rec.KitVersion != opts.KitVersion {
		return fmt.Errorf("the repository is at saaskit %s and this is %s; run saaskit upgrade first, then config set", rec.KitVersion, opts.KitVersion)
	}
	if err := repo.CheckResources(); err != nil {
		return err
	}
	answers, err = bp.Complete(answers)
	if err != nil {
		return err
	}
	old, err := bp.Complete(rec.Answers)
	if err != nil {
		return err
	}
	base, err := generator.Render(bp, tree, generator.Input{Answers: old, KitVersion: rec.KitVersion})
	if err != nil {
		return err
	}
	theirs, err := generator.Render(bp, tree, generator.Input{Answers: answers, KitVersion: opts.KitVersion})
	if err != nil {
		return err
	}
	next := *rec
	next.Answers = answers
	var desc, args []string
	for _, q := range bp.Questions {
		if answers[q.Name] != old[q.Name] {
			desc = append(desc, fmt.Sprintf("%s %s -> %s", q.Name, old[q.Name], answers[q.Name]))
			args = append(args, q.Name+"="+answers[q.Name])
		}
	}
	if len(desc) == 0 {
		fmt.Fprintln(opts.IO.ErrOut, "Nothing to change: the repository already has these options.")
		return nil
	}
	env := up.Env{IO: opts.IO, Exec: opts.Exec}
	if !opts.DryRun {
		if err := repo.Preflight(ctx, env, opts.Force); err != nil {
			return err
		}
	}
	fmt.Fprintf(opts.IO.ErrOut, "Changing %s\n", strings.Join(desc, ", "))
	rerun := up.RerunCommand("saaskit config set", opts.Dir, opts.Force, args...)
	return up.Run(ctx, env, up.Request{
		Repo:        repo,
		Blueprint:   bp,
		Base:        base,
		Theirs:      theirs,
		NewRecord:   &next,
		BaseLabel:   "saaskit (current options)",
		TheirsLabel: "saaskit (" + strings.Join(desc, ", ") + ")",
		DryRun:      opts.DryRun,
		Force:       opts.Force,
		Rerun:       rerun,
	})
}

// Package config implements `saaskit config`.
package config

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/saaskit/saaskit/generator"
	"github.com/saaskit/saaskit/internal/cmdutil"
	"github.com/saaskit/saaskit/internal/kit"
	"github.com/saaskit/saaskit/internal/transition"
)

// SetOptions is everything `saaskit config set` needs.
type SetOptions struct {
	IO         *cmdutil.IOStreams
	Exec       cmdutil.Executor
	KitVersion string
	// Renderer renders both sides with this build's kit: config set runs
	// only on a repository at this kit's version.
	Renderer generator.Renderer

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
	opts := &SetOptions{IO: f.IOStreams, Exec: f.Exec, KitVersion: f.KitVersion, Renderer: f.Renderer}
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
		// Completion offers only changes the command takes: options that
		// may change, not already given, to values other than the
		// repository's own.
		ValidArgsFunction: func(c *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if bp == nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var current generator.Answers
			if dir, err := c.Flags().GetString("dir"); err == nil {
				if repo, err := transition.OpenRepo(dir); err == nil {
					current = repo.Record.Answers
				}
			}
			var comps []string
			for _, q := range bp.Questions {
				if q.Immutable != "" || slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, q.Name+"=") }) {
					continue
				}
				for _, v := range q.Values() {
					if v != current[q.Name] {
						comps = append(comps, q.Name+"="+v)
					}
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
	// An option given as a flag (--billing=stripe, as `saaskit new` takes
	// it) is told how config set takes it.
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		name, isUnknown := strings.CutPrefix(err.Error(), "unknown flag: --")
		if !isUnknown || bp == nil {
			return &cmdutil.FlagError{Err: err}
		}
		if q := bp.Question(name); q != nil {
			return cmdutil.FlagErrorf("config set takes options as option=value, not flags: saaskit config set %s=<value>%s", name, valuesHint(q))
		}
		return &cmdutil.FlagError{Err: err}
	})
	cmd.Flags().StringVarP(&opts.Dir, "dir", "C", ".", "The generated repository")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "Print the changes as a unified diff; write nothing")
	cmd.Flags().BoolVar(&opts.Force, "force", false, "Apply even with uncommitted changes in the work tree")
	return cmd
}

func setRun(ctx context.Context, opts *SetOptions) error {
	repo, err := transition.OpenRepo(opts.Dir)
	if err != nil {
		return err
	}
	rec := repo.Record
	// The blueprint's questions say which changes are allowed; rendering
	// is the renderer's.
	bp, _, err := kit.Load(rec.Blueprint)
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
	answers, err = bp.Complete(answers)
	if err != nil {
		return err
	}
	old, err := bp.Complete(rec.Answers)
	if err != nil {
		return err
	}
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

	// The next record is this one with the new answers; resources stay.
	next := rec.Clone()
	next.Answers = answers
	return transition.Run(ctx, transition.Env{IO: opts.IO, Exec: opts.Exec}, transition.Request{
		Repo:        repo,
		Base:        opts.Renderer,
		Next:        next,
		Theirs:      opts.Renderer,
		Announce:    "Changing " + strings.Join(desc, ", "),
		BaseLabel:   "saaskit (current options)",
		TheirsLabel: "saaskit (" + strings.Join(desc, ", ") + ")",
		DryRun:      opts.DryRun,
		Force:       opts.Force,
		Rerun:       transition.RerunCommand("saaskit config set", opts.Dir, opts.Force, args...),
	})
}

// valuesHint lists q's values for a message, or nothing for a free answer.
func valuesHint(q *generator.Question) string {
	if vs := q.Values(); len(vs) > 0 {
		return " (values: " + strings.Join(vs, ", ") + ")"
	}
	return ""
}

// Package add implements `saaskit add`.
package add

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/saaskit/saaskit/generator"
	"github.com/saaskit/saaskit/internal/cmdutil"
	"github.com/saaskit/saaskit/internal/transition"
)

// ResourceOptions is everything `saaskit add resource` needs.
type ResourceOptions struct {
	IO         *cmdutil.IOStreams
	Exec       cmdutil.Executor
	KitVersion string
	// Renderer renders both sides with this build's kit: add runs only on
	// a repository at this kit's version.
	Renderer generator.Renderer
	// Prompter asks for --fields when it is not given and a terminal (or
	// accessible mode) can ask.
	Prompter   func(accessible bool) cmdutil.Prompter
	Accessible bool

	Dir    string
	Name   string
	Fields string
	DryRun bool
	Force  bool
}

// NewCmdAdd builds `saaskit add` and its subcommands.
func NewCmdAdd(f *cmdutil.Factory, runF func(context.Context, *ResourceOptions) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "add <command>",
		Short:   "Add code to a generated repository",
		Example: `  saaskit add resource invoices --fields "number:string!unique amount_cents:int64 due_at:time?"`,
	}
	cmd.AddCommand(newCmdResource(f, runF))
	return cmd
}

func newCmdResource(f *cmdutil.Factory, runF func(context.Context, *ResourceOptions) error) *cobra.Command {
	opts := &ResourceOptions{IO: f.IOStreams, Exec: f.Exec, KitVersion: f.KitVersion, Renderer: f.Renderer, Prompter: f.Prompter}
	cmd := &cobra.Command{
		Use:   "resource <name> --fields <fields>",
		Short: "Add a tenant-scoped resource: table, queries, API, permissions and tests",
		Long: `Add a tenant-scoped resource to the repository, in its tenancy mode: a tenant
migration, sqlc queries and their regenerated code, API operations to create,
get, list (filters, sort, keyset pagination), update (PATCH, partial) and
delete it, the permissions <name>:read, <name>:write and <name>:delete (held
by viewers, members and admins), an audit entry for every change, and tests
(CRUD, validation, the route and role matrix, cross-tenant attacks).

The resource is recorded in .saaskit.yaml and rendered by the kit's resource
templates: the kit renders the repository without and with it and merges the
difference into your work tree exactly as 'saaskit upgrade' does, so your
edits to the shared files (routes, permissions, the route and role matrix)
are kept, and a later upgrade brings template improvements to the resource.
Nothing is written when a name or a field is refused. The repository must be
at this saaskit's version and its work tree clean, unless --force.

` + generator.FieldsHelp,
		Example: `  # Invoices referring to customers (add customers first)
  saaskit add resource customers --fields "name:string email:string!unique"
  saaskit add resource invoices --fields "number:string!unique amount_cents:int64 due_at:time? customer:ref(customers) status:enum(draft|open|paid)=draft"

  # Preview the change as a diff
  saaskit add resource notes --fields "body:text pinned:bool=false" --dry-run`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if !cmd.Flags().Changed("accessible") && f.Getenv != nil && f.Getenv("ACCESSIBLE") != "" && f.Getenv("ACCESSIBLE") != "0" {
				opts.Accessible = true
			}
			if opts.Fields == "" {
				if err := askFields(opts); err != nil {
					return err
				}
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return resourceRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Fields, "fields", "", "The resource's fields: NAME:TYPE[?][!unique][!index][=DEFAULT] ..., separated by spaces")
	cmd.Flags().StringVarP(&opts.Dir, "dir", "C", ".", "The generated repository")
	cmd.Flags().BoolVar(&opts.Accessible, "accessible", false, "Ask for --fields with a plain prompt for screen readers and piped input (also ACCESSIBLE=1)")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "Print the changes as a unified diff; write nothing")
	cmd.Flags().BoolVar(&opts.Force, "force", false, "Apply even with uncommitted changes in the work tree")
	return cmd
}

// askFields asks for the fields when a terminal (or accessible mode) can,
// and otherwise says --fields is required.
func askFields(opts *ResourceOptions) error {
	if opts.Prompter == nil || (!opts.Accessible && !opts.IO.IsStdinTTY()) {
		return cmdutil.FlagErrorf("--fields is required, e.g. --fields \"title:string done:bool=false\"")
	}
	q := &generator.Question{
		Name:  "fields",
		Title: "Fields of " + opts.Name,
		Help:  "NAME:TYPE[?][!unique][!index][=DEFAULT] ..., e.g. number:string!unique due_at:time? status:enum(draft|paid)=draft (see --help)",
	}
	answers := generator.Answers{}
	none := func(*generator.Question, generator.Answers) (string, error) { return "", nil }
	if err := opts.Prompter(opts.Accessible).Ask([]*generator.Question{q}, answers, none, ""); err != nil {
		return err
	}
	opts.Fields = answers["fields"]
	if opts.Fields == "" {
		return cmdutil.FlagErrorf("no fields given: a resource needs at least one, e.g. title:string")
	}
	return nil
}

func resourceRun(ctx context.Context, opts *ResourceOptions) error {
	repo, err := transition.OpenRepo(opts.Dir)
	if err != nil {
		return err
	}
	rec := repo.Record
	if _, err := generator.ParseResource(opts.Name, opts.Fields, rec.Resources, len(rec.Resources)+1); err != nil {
		return &cmdutil.FlagError{Err: err}
	}
	if rec.KitVersion != opts.KitVersion {
		return fmt.Errorf("the repository is at saaskit %s and this is %s; run saaskit upgrade first, then add resource", rec.KitVersion, opts.KitVersion)
	}
	// The next record is this one with the resource appended.
	next := rec.Clone()
	next.Resources = append(next.Resources, generator.Resource{Name: opts.Name, Fields: opts.Fields})
	return transition.Run(ctx, transition.Env{IO: opts.IO, Exec: opts.Exec}, transition.Request{
		Repo:        repo,
		Base:        opts.Renderer,
		Next:        next,
		Theirs:      opts.Renderer,
		Announce:    "Adding resource " + opts.Name,
		BaseLabel:   "saaskit (before " + opts.Name + ")",
		TheirsLabel: "saaskit (with " + opts.Name + ")",
		DryRun:      opts.DryRun,
		Force:       opts.Force,
		// Markers in the user's routes or permissions are worse than
		// the lines to add by hand.
		RefuseConflicts: true,
		Rerun:           transition.RerunCommand("saaskit add resource", opts.Dir, opts.Force, opts.Name, "--fields", opts.Fields),
	})
}

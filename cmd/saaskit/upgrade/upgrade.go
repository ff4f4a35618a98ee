// Package upgrade implements `saaskit upgrade`.
package upgrade

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"golang.org/x/mod/semver"

	"github.com/saaskit/saaskit/generator"
	"github.com/saaskit/saaskit/internal/cmdutil"
	"github.com/saaskit/saaskit/internal/transition"
)

// ErrUpgradeAvailable is what --check returns when the repository is behind;
// the root command maps it to its own exit code.
var ErrUpgradeAvailable = errors.New("upgrade available")

// Options is everything `saaskit upgrade` needs.
type Options struct {
	IO         *cmdutil.IOStreams
	Exec       cmdutil.Executor
	KitVersion string
	// Renderer renders with this build's kit (theirs); VersionRenderer
	// with the kit version a record names (the base).
	Renderer        generator.Renderer
	VersionRenderer generator.Renderer

	Dir      string
	BaseFrom string
	DryRun   bool
	Force    bool
	Check    bool
}

// NewCmdUpgrade builds `saaskit upgrade`; runF replaces upgradeRun in tests.
func NewCmdUpgrade(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, Exec: f.Exec, KitVersion: f.KitVersion, Renderer: f.Renderer, VersionRenderer: f.VersionRenderer}
	cmd := &cobra.Command{
		Use:   "upgrade",
		Short: "Bring a generated repository to this saaskit version, keeping your edits",
		Long: `Bring a generated repository to this version of saaskit without losing your edits.

The repository's .saaskit.yaml records the kit version and answers it was
generated with. upgrade renders that version (the base) and this one (theirs)
with the same answers and merges every file three ways against your work tree:

  untouched by you          replaced with the new version
  changed only by you       kept
  changed by both           merged; overlapping changes get git-style conflict
                            markers, are listed, and the exit code is non-zero
  new in the kit            added
  dropped by the kit        removed, unless you changed it
  deleted by you            stays deleted
  database migrations       never rewritten once written; changes are reported
  go.mod/go.sum, tools.mod  merged semantically, not as text: your requirements
                            stay, the kit's pins are raised; then made consistent
                            (go mod tidy), or the upgrade stops non-zero
  sqlc code                 regenerated from the merged queries

The base comes from the recorded saaskit version itself, run from the Go module
proxy (go run github.com/saaskit/saaskit/cmd/saaskit@<version> render), so it
works in a fresh clone; --base-from DIR uses a directory holding that render
instead. The work tree must be clean (commit first) unless --force.

Before writing, upgrade keeps a journal of what it will write in the git
directory (.git/saaskit-upgrade.json). Files are replaced one by one
atomically and .saaskit.yaml advances last, once the module files are
consistent. An upgrade that stopped part way (interrupted, or go mod tidy
failed) is finished by running it again: the journal lets it accept its own
uncommitted writes without --force and skip the files it already wrote.`,
		Example: `  # See what would change, as a diff; write nothing
  saaskit upgrade --dry-run

  # Upgrade, then review and commit
  saaskit upgrade && git diff

  # In CI: exit 0 when up to date, 3 when an upgrade is available
  saaskit upgrade --check`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return upgradeRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Dir, "dir", "C", ".", "The generated repository")
	cmd.Flags().StringVar(&opts.BaseFrom, "base-from", "", "Directory holding the pristine render of the recorded version (instead of fetching that saaskit)")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "Print the changes as a unified diff; write nothing")
	cmd.Flags().BoolVar(&opts.Force, "force", false, "Upgrade even with uncommitted changes in the work tree")
	cmd.Flags().BoolVar(&opts.Check, "check", false, "Only report: exit 0 when up to date, 3 when an upgrade is available")
	return cmd
}

func upgradeRun(ctx context.Context, opts *Options) error {
	repo, err := transition.OpenRepo(opts.Dir)
	if err != nil {
		return err
	}
	rec := repo.Record
	if semver.IsValid(rec.KitVersion) && semver.IsValid(opts.KitVersion) && semver.Compare(opts.KitVersion, rec.KitVersion) < 0 {
		return fmt.Errorf("this saaskit (%s) is older than the %s that last rendered the repository; install saaskit %s or newer", opts.KitVersion, rec.KitVersion, rec.KitVersion)
	}
	if opts.Check {
		if rec.KitVersion == opts.KitVersion {
			fmt.Fprintf(opts.IO.Out, "up to date with saaskit %s\n", opts.KitVersion)
			return nil
		}
		fmt.Fprintf(opts.IO.Out, "upgrade available: saaskit %s -> %s (run saaskit upgrade)\n", rec.KitVersion, opts.KitVersion)
		return ErrUpgradeAvailable
	}
	if rec.KitVersion == opts.KitVersion && opts.BaseFrom == "" {
		fmt.Fprintf(opts.IO.ErrOut, "Already at saaskit %s; nothing to upgrade.\n", opts.KitVersion)
		return nil
	}

	// The next record is this one under this kit: same answers (the
	// renderer fills in questions this kit added) and resources.
	next := rec.Clone()
	next.KitVersion = opts.KitVersion

	var base generator.Renderer
	switch {
	case opts.BaseFrom != "":
		base = transition.DirRenderer(opts.BaseFrom)
	case rec.KitVersion == opts.KitVersion:
		base = opts.Renderer
	default:
		base = opts.VersionRenderer
	}
	var more []string
	if opts.BaseFrom != "" {
		more = []string{"--base-from", opts.BaseFrom}
	}
	return transition.Run(ctx, transition.Env{IO: opts.IO, Exec: opts.Exec}, transition.Request{
		Repo:        repo,
		Base:        base,
		Next:        next,
		Theirs:      opts.Renderer,
		Announce:    fmt.Sprintf("Upgrading from saaskit %s to %s", rec.KitVersion, opts.KitVersion),
		BaseLabel:   "saaskit " + rec.KitVersion,
		TheirsLabel: "saaskit " + opts.KitVersion,
		DryRun:      opts.DryRun,
		Force:       opts.Force,
		Rerun:       transition.RerunCommand("saaskit upgrade", opts.Dir, opts.Force, more...),
	})
}

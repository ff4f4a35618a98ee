// Package root assembles saaskit's command tree and turns errors into exit
// codes.
package root

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	addcmd "github.com/saaskit/saaskit/cmd/saaskit/add"
	configcmd "github.com/saaskit/saaskit/cmd/saaskit/config"
	newcmd "github.com/saaskit/saaskit/cmd/saaskit/new"
	rendercmd "github.com/saaskit/saaskit/cmd/saaskit/render"
	upgradecmd "github.com/saaskit/saaskit/cmd/saaskit/upgrade"
	versioncmd "github.com/saaskit/saaskit/cmd/saaskit/version"
	"github.com/saaskit/saaskit/internal/buildinfo"
	"github.com/saaskit/saaskit/internal/cmdutil"
	"github.com/saaskit/saaskit/internal/kit"
	"github.com/saaskit/saaskit/internal/prompt"
	"github.com/saaskit/saaskit/internal/transition"
)

// Exit codes.
const (
	ExitOK     = 0
	ExitError  = 1
	ExitUsage  = 2
	ExitCancel = 130
	// ExitUpgradeAvailable is `saaskit upgrade --check` finding the
	// repository behind this kit.
	ExitUpgradeAvailable = 3
)

// NewFactory returns the factory of the real process.
func NewFactory() *cmdutil.Factory {
	ios := cmdutil.System()
	return &cmdutil.Factory{
		IOStreams:       ios,
		KitVersion:      buildinfo.Version(),
		Getenv:          os.Getenv,
		Prompter:        func(accessible bool) cmdutil.Prompter { return prompt.New(ios, accessible) },
		Git:             cmdutil.RunGit,
		Exec:            cmdutil.Exec,
		Renderer:        kit.Renderer{},
		VersionRenderer: transition.ModuleRenderer{Exec: cmdutil.Exec},
	}
}

// NewCmdRoot builds the saaskit command tree.
func NewCmdRoot(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "saaskit <command>",
		Short: "Generate a production-grade Go SaaS backend",
		Long: `saaskit writes a complete, runnable Go SaaS backend into a new repository:
multi-tenant Postgres isolation, background jobs, billing, realtime events,
migrations, sqlc queries, a Dockerfile, docker compose and CI.`,
		Example: `  # Generate an app, answering the questions interactively
  saaskit new acme

  # Generate without questions, choosing every option by flag
  saaskit new acme --module github.com/acme/acme --tenancy row --broker redis --billing stripe --realtime websocket

  # Take the default for every option not given
  saaskit new acme --yes`,
		Version:       f.KitVersion,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cmd.SetVersionTemplate("saaskit {{.Version}}\n")
	cmd.SetOut(f.IOStreams.Out)
	cmd.SetErr(f.IOStreams.ErrOut)
	cmd.SetIn(f.IOStreams.In)
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &cmdutil.FlagError{Err: err}
	})
	cmd.AddCommand(newcmd.NewCmdNew(f, nil))
	cmd.AddCommand(upgradecmd.NewCmdUpgrade(f, nil))
	cmd.AddCommand(configcmd.NewCmdConfig(f, nil))
	cmd.AddCommand(addcmd.NewCmdAdd(f, nil))
	cmd.AddCommand(rendercmd.NewCmdRender(f))
	cmd.AddCommand(versioncmd.NewCmdVersion(f))
	addCompletionExamples(cmd)
	cmdutil.UsageErrors(cmd)
	return cmd
}

// addCompletionExamples gives cobra's completion commands examples like
// every other command.
func addCompletionExamples(root *cobra.Command) {
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() != "completion" {
			continue
		}
		c.Example = `  # bash, for this session
  source <(saaskit completion bash)

  # zsh, for every session
  saaskit completion zsh > "${fpath[1]}/_saaskit"

  # fish
  saaskit completion fish > ~/.config/fish/completions/saaskit.fish`
		for _, sub := range c.Commands() {
			sub.Example = "  saaskit completion " + sub.Name() + " --help"
			switch sub.Name() {
			case "bash":
				sub.Example = "  source <(saaskit completion bash)"
			case "zsh":
				sub.Example = "  saaskit completion zsh > \"${fpath[1]}/_saaskit\""
			case "fish":
				sub.Example = "  saaskit completion fish > ~/.config/fish/completions/saaskit.fish"
			case "powershell":
				sub.Example = "  saaskit completion powershell | Out-String | Invoke-Expression"
			}
		}
	}
}

// Main runs saaskit with the process's arguments and returns its exit code.
func Main() int {
	f := NewFactory()
	cmd := NewCmdRoot(f)
	return Execute(cmd, f, os.Args[1:])
}

// Execute runs cmd with args and maps the outcome to an exit code,
// printing errors to stderr.
func Execute(cmd *cobra.Command, f *cmdutil.Factory, args []string) int {
	cmd.SetArgs(args)
	c, err := cmd.ExecuteC()
	if err == nil {
		return ExitOK
	}
	stderr := f.IOStreams.ErrOut
	if errors.Is(err, upgradecmd.ErrUpgradeAvailable) {
		return ExitUpgradeAvailable
	}
	if errors.Is(err, cmdutil.ErrCancel) {
		fmt.Fprintln(stderr, "cancelled; nothing was written")
		return ExitCancel
	}
	fmt.Fprintf(stderr, "error: %v\n", err)
	var flagErr *cmdutil.FlagError
	if errors.As(err, &flagErr) {
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", c.CommandPath())
		return ExitUsage
	}
	return ExitError
}

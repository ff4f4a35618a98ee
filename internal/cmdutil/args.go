package cmdutil

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// NoArgs refuses positional arguments: a command that takes none says so,
// rather than taking the first one for an unknown subcommand.
func NoArgs(c *cobra.Command, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("%s takes no arguments (got %q)", c.CommandPath(), args)
	}
	return nil
}

// UsageErrors makes every mistake in how c and its subcommands are called
// a usage error (exit 2 with the help hint), as flag errors are: an unknown
// command (with suggestions) and wrong positional arguments, each naming
// what is accepted. A group command (such as `saaskit add`) called alone
// prints its help.
func UsageErrors(c *cobra.Command) {
	if !c.HasParent() {
		// A group is runnable only to answer these mistakes: its usage
		// stays that of a group, without a line of its own. Every command
		// inherits the root's template.
		c.SetUsageTemplate(strings.Replace(c.UsageTemplate(), "{{if .Runnable}}", "{{if and .Runnable (not .HasAvailableSubCommands)}}", 1))
	}
	for _, sub := range c.Commands() {
		UsageErrors(sub)
	}
	if c.HasSubCommands() && !c.Runnable() {
		c.Args = cobra.ArbitraryArgs
		c.RunE = func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return c.Help()
			}
			msg := fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath())
			if c.SuggestionsMinimumDistance <= 0 {
				c.SuggestionsMinimumDistance = 2
			}
			if s := c.SuggestionsFor(args[0]); len(s) > 0 {
				msg += fmt.Sprintf("; did you mean %s?", strings.Join(s, " or "))
			}
			return FlagErrorf("%s (commands: %s)", msg, subcommandNames(c))
		}
		return
	}
	if validate := c.Args; validate != nil {
		c.Args = func(c *cobra.Command, args []string) error {
			if err := validate(c, args); err != nil {
				return FlagErrorf("%v; usage: %s", err, strings.TrimSuffix(c.UseLine(), " [flags]"))
			}
			return nil
		}
	}
}

// subcommandNames lists c's commands a user may call.
func subcommandNames(c *cobra.Command) string {
	var names []string
	for _, sub := range c.Commands() {
		if sub.IsAvailableCommand() {
			names = append(names, sub.Name())
		}
	}
	return strings.Join(names, ", ")
}

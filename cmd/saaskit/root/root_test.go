package root

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/saaskit/saaskit/internal/cmdutil"
)

func TestUpgradeCheckExitCodes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rec := "schema: 1\nkit_version: v0.2.0\nblueprint: app\nanswers: {}\nresources: []\n"
	if err := os.WriteFile(filepath.Join(dir, ".saaskit.yaml"), []byte(rec), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		kit  string
		code int
		out  string
	}{
		{"v0.2.0", ExitOK, "up to date with saaskit v0.2.0"},
		{"v0.3.0", ExitUpgradeAvailable, "upgrade available: saaskit v0.2.0 -> v0.3.0"},
		{"v0.1.0", ExitError, "this saaskit (v0.1.0) is older than the v0.2.0"},
	} {
		ios, _, out, errOut := cmdutil.Test()
		f := &cmdutil.Factory{IOStreams: ios, KitVersion: tt.kit, Getenv: func(string) string { return "" }}
		code := Execute(NewCmdRoot(f), f, []string{"upgrade", "--check", "-C", dir})
		if code != tt.code {
			t.Errorf("kit %s: exit %d, want %d (stderr: %s)", tt.kit, code, tt.code, errOut)
		}
		if !strings.Contains(out.String()+errOut.String(), tt.out) {
			t.Errorf("kit %s: output lacks %q:\n%s%s", tt.kit, tt.out, out, errOut)
		}
	}
}

// Every command's --help teaches by example.
func TestEveryCommandHasExamples(t *testing.T) {
	t.Parallel()
	ios, _, _, _ := cmdutil.Test()
	f := &cmdutil.Factory{IOStreams: ios, KitVersion: "v1.0.0", Getenv: func(string) string { return "" }}
	var walk func(c *cobra.Command)
	count := 0
	walk = func(c *cobra.Command) {
		count++
		if c.Example == "" && c.Name() != "help" {
			t.Errorf("%q has no examples in its help", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(NewCmdRoot(f))
	if count < 10 {
		t.Errorf("walked only %d commands", count)
	}
}

// Every mistake in calling saaskit is a usage error: exit 2, an "error:"
// line that says what is accepted, and the help hint. A group alone
// prints its help.
func TestUsageErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"nw"}, ExitUsage, []string{`error: unknown command "nw" for "saaskit"; did you mean new?`, "(commands: add, completion, config, new, upgrade, version)", "Run 'saaskit --help' for usage."}},
		{[]string{"config", "sett"}, ExitUsage, []string{`unknown command "sett" for "saaskit config"; did you mean set?`, "Run 'saaskit config --help' for usage."}},
		{[]string{"add", "resource"}, ExitUsage, []string{"accepts 1 arg(s), received 0; usage: saaskit add resource <name> --fields <fields>"}},
		{[]string{"version", "extra"}, ExitUsage, []string{`saaskit version takes no arguments (got ["extra"])`, "Run 'saaskit version --help' for usage."}},
		{[]string{"upgrade", "now"}, ExitUsage, []string{`saaskit upgrade takes no arguments (got ["now"])`}},
		{[]string{"config", "set", "--billing=none"}, ExitUsage, []string{"config set takes options as option=value, not flags: saaskit config set billing=<value> (values: stripe, none)"}},
		{[]string{"new", "x", "--name", "go"}, ExitUsage, []string{`"go" would shadow a tool or a directory of the repository`}},
		{[]string{"add"}, ExitOK, []string{"Usage:\n  saaskit add [command]"}},
		{nil, ExitOK, []string{"Usage:\n  saaskit [command]\n"}},
	} {
		ios, _, out, errOut := cmdutil.Test()
		f := &cmdutil.Factory{IOStreams: ios, KitVersion: "v1.0.0", Getenv: func(string) string { return "" }}
		code := Execute(NewCmdRoot(f), f, tt.args)
		if code != tt.code {
			t.Errorf("saaskit %q: exit %d, want %d (stderr: %s)", tt.args, code, tt.code, errOut)
		}
		for _, w := range tt.want {
			if !strings.Contains(out.String()+errOut.String(), w) {
				t.Errorf("saaskit %q: output lacks %q:\n%s%s", tt.args, w, out, errOut)
			}
		}
	}
}

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

package root

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

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

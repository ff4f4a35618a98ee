// Package version implements `saaskit version`.
package version

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/saaskit/saaskit/internal/cmdutil"
)

// NewCmdVersion builds `saaskit version`.
func NewCmdVersion(f *cmdutil.Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print saaskit's version",
		Long: `Print saaskit's version. Generated repositories record it in .saaskit.yaml,
and 'saaskit upgrade' moves them from that version to this one.`,
		Example: `  saaskit version`,
		Args:    cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(f.IOStreams.Out, "saaskit %s (%s %s/%s)\n", f.KitVersion, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return err
		},
	}
}

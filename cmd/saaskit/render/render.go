// Package render implements `saaskit render`, a plumbing command: it writes
// the pristine render of a .saaskit.yaml record. `saaskit upgrade` runs the
// recorded kit version's render to get its merge base.
package render

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/saaskit/saaskit/generator"
	"github.com/saaskit/saaskit/internal/cmdutil"
)

// NewCmdRender builds the hidden `saaskit render`.
func NewCmdRender(f *cmdutil.Factory) *cobra.Command {
	var record, out string
	cmd := &cobra.Command{
		Use:     "render --record FILE --out DIR",
		Short:   "Write the render of a .saaskit.yaml record (used by upgrade)",
		Hidden:  true,
		Example: `  saaskit render --record .saaskit.yaml --out /tmp/base`,
		Args:    cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			raw, err := os.ReadFile(record)
			if err != nil {
				return err
			}
			rec, err := generator.ParseRecord(raw)
			if err != nil {
				return err
			}
			// Always this build's kit: this command is how an upgrade
			// gets an older kit's render, by running that kit.
			plan, err := f.Renderer.Render(cmd.Context(), rec)
			if err != nil {
				return err
			}
			if err := generator.Write(plan, out, generator.WriteOptions{}); err != nil {
				return err
			}
			_, err = fmt.Fprintf(f.IOStreams.ErrOut, "Wrote %d files to %s\n", len(plan.Files), out)
			return err
		},
	}
	cmd.Flags().StringVar(&record, "record", generator.RecordFile, "The record to render")
	cmd.Flags().StringVar(&out, "out", "", "Directory to write (must not exist or be empty)")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

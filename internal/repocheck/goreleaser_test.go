package repocheck

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// TestKitGoreleaser checks the configuration release.yml publishes saaskit
// with.
func TestKitGoreleaser(t *testing.T) {
	requireTool(t, "goreleaser")
	t.Parallel()
	if err := Goreleaser(t.Context(), filepath.Join("..", "..", "goreleaser.yaml")); err != nil {
		t.Fatal(err)
	}
}

func TestGoreleaser(t *testing.T) {
	t.Parallel()
	// Caught before goreleaser runs, so checked wherever the tests run.
	t.Run("version 1", func(t *testing.T) {
		t.Parallel()
		wantErr(t, Goreleaser(t.Context(), writeFile(t, ".goreleaser.yaml", "project_name: x\n")), "version: 0, want version: 2")
	})
	t.Run("missing file", func(t *testing.T) {
		t.Parallel()
		err := Goreleaser(t.Context(), filepath.Join(t.TempDir(), "goreleaser.yaml"))
		wantErr(t, err, "goreleaser: open ")
	})

	tests := []struct {
		name    string
		content string
		want    []string
	}{
		{"valid", "version: 2\nbuilds:\n  - main: ./cmd/x\n    env: [CGO_ENABLED=0]\n", nil},
		{"unknown field", "version: 2\nbuilds:\n  - main: ./cmd/x\n    goos_list: [linux]\n",
			[]string{"field goos_list not found in type config.Build"}},
		{"deprecated field", "version: 2\narchives:\n  - format: zip\n",
			[]string{"archives.format should not be used anymore", "uses deprecated properties"}},
		{"duplicate build ids", "version: 2\nbuilds:\n  - id: x\n    main: ./cmd/x\n  - id: x\n    main: ./cmd/y\n",
			[]string{"configuration is invalid", "found 2 builds with the ID 'x'"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requireTool(t, "goreleaser")
			t.Parallel()
			err := Goreleaser(t.Context(), writeFile(t, ".goreleaser.yaml", tt.content))
			if errors.Is(err, ErrToolMissing) {
				t.Fatal(err)
			}
			if tt.want == nil {
				if err != nil {
					t.Errorf("want no error, got:\n%v", err)
				}
				return
			}
			wantErr(t, err, tt.want...)
		})
	}
}

// TestGoreleaserForcedColour runs the check the way a CI runner that forces
// colour does: the findings must still read as plain text.
func TestGoreleaserForcedColour(t *testing.T) {
	requireTool(t, "goreleaser")
	t.Setenv("CLICOLOR_FORCE", "1")
	t.Setenv("FORCE_COLOR", "1")
	err := Goreleaser(t.Context(), writeFile(t, ".goreleaser.yaml", "version: 2\narchives:\n  - format: zip\n"))
	wantErr(t, err, "archives.format should not be used anymore")
	if err != nil && strings.Contains(err.Error(), "\x1b[") {
		t.Errorf("findings carry terminal escapes:\n%q", err.Error())
	}
}

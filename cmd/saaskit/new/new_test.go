package new

import (
	"context"
	"testing"

	"github.com/saaskit/saaskit/internal/cmdutil"
)

func TestNewCmdNewParsesFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		wantDir    string
		wantAnswer map[string]string
		check      func(*Options) bool
	}{
		{
			name:       "options from the blueprint become flags",
			args:       []string{"shop", "--tenancy", "row", "--broker=nats", "--module", "example.org/shop"},
			wantDir:    "shop",
			wantAnswer: map[string]string{"tenancy": "row", "broker": "nats", "module": "example.org/shop"},
		},
		{
			name:       "unset flags are not answers",
			args:       []string{"--name", "solo", "--yes", "--dry-run", "--force", "--no-git"},
			wantAnswer: map[string]string{"name": "solo"},
			check:      func(o *Options) bool { return o.Yes && o.DryRun && o.Force && o.NoGit && !o.Accessible },
		},
		{
			name:  "ACCESSIBLE=1 turns on accessible mode",
			args:  []string{"x"},
			env:   map[string]string{"ACCESSIBLE": "1"},
			check: func(o *Options) bool { return o.Accessible }, wantDir: "x", wantAnswer: map[string]string{},
		},
		{
			name:  "--accessible=false wins over ACCESSIBLE=1",
			args:  []string{"x", "--accessible=false"},
			env:   map[string]string{"ACCESSIBLE": "1"},
			check: func(o *Options) bool { return !o.Accessible }, wantDir: "x", wantAnswer: map[string]string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ios, _, _, _ := cmdutil.Test()
			f := &cmdutil.Factory{IOStreams: ios, KitVersion: "v1.0.0", Getenv: func(k string) string { return tt.env[k] }}
			var got *Options
			cmd := NewCmdNew(f, func(_ context.Context, o *Options) error { got = o; return nil })
			cmd.SetArgs(tt.args)
			if err := cmd.Execute(); err != nil {
				t.Fatal(err)
			}
			if got.Dir != tt.wantDir {
				t.Errorf("Dir = %q, want %q", got.Dir, tt.wantDir)
			}
			if len(got.Answers) != len(tt.wantAnswer) {
				t.Errorf("Answers = %v, want %v", got.Answers, tt.wantAnswer)
			}
			for k, v := range tt.wantAnswer {
				if got.Answers[k] != v {
					t.Errorf("Answers[%s] = %q, want %q", k, got.Answers[k], v)
				}
			}
			if tt.check != nil && !tt.check(got) {
				t.Errorf("options not as expected: %+v", got)
			}
		})
	}
}

package kit

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/saaskit/saaskit/generator"
	"github.com/saaskit/saaskit/internal/testenv"
)

// conflictsScript renders the generated CI workflow and returns the run:
// script of its conflicts job, the one that must fail on leftover conflict
// markers.
func conflictsScript(t *testing.T) (string, *generator.Plan) {
	t.Helper()
	// The workflow is a template: the pure core renders it.
	plan, err := Renderer{CoreOnly: true}.Render(t.Context(), goldenCase(t, "schema-postgres").Record)
	if err != nil {
		t.Fatal(err)
	}
	file := plan.File(".github/workflows/ci.yml")
	if file == nil {
		t.Fatal("the render has no .github/workflows/ci.yml")
	}
	workflow := file.Content
	var ci struct {
		Jobs map[string]struct {
			Steps []struct {
				Run   string `yaml:"run"`
				Shell string `yaml:"shell"`
			} `yaml:"steps"`
		} `yaml:"jobs"`
	}
	if err := yaml.Unmarshal(workflow, &ci); err != nil {
		t.Fatal(err)
	}
	job, ok := ci.Jobs["conflicts"]
	if !ok {
		t.Fatal("ci.yml has no conflicts job")
	}
	var scripts []string
	for _, s := range job.Steps {
		if s.Run != "" {
			if s.Shell != "" && s.Shell != "bash" {
				t.Fatalf("the conflicts step runs in %q; this test runs it with bash", s.Shell)
			}
			scripts = append(scripts, s.Run)
		}
	}
	if len(scripts) != 1 {
		t.Fatalf("the conflicts job has %d run steps, want 1", len(scripts))
	}
	return scripts[0], plan
}

// TestCIConflictsJob runs the generated CI's conflict-marker check, as
// GitHub runs a bash step, in repositories with and without leftover
// markers.
func TestCIConflictsJob(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("bash"); err != nil {
		testenv.Absent(t, "bash is not installed")
	}
	script, plan := conflictsScript(t)
	generated := map[string]string{}
	for _, f := range plan.Files {
		generated[f.Path] = string(f.Content)
	}
	cases := []struct {
		name  string
		files map[string]string
		fail  string // the path:line the job must report; "" to pass
	}{
		{"clean", map[string]string{
			"main.go": "package main\n",
			// Lookalikes that are not conflict markers.
			"doc.md": "Title\n=======\n\nAn arrow: a <<<<<<< b and c >>>>>>> d.\n<<<<<<<<< nine\n",
		}, ""},
		// The generated repository itself, docs explaining markers included.
		{"generated repository", generated, ""},
		{"markers after saaskit upgrade", map[string]string{
			"main.go":   "package main\n",
			"README.md": "# app\n<<<<<<< yours\nmine\n=======\nkit\n>>>>>>> saaskit v0.2.0\n",
		}, "README.md:2:"},
		{"a lone closing marker", map[string]string{
			"internal/a.go": "package a\n\n>>>>>>>\n",
		}, "internal/a.go:3:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			for p, c := range tc.files {
				dst := filepath.Join(dir, filepath.FromSlash(p))
				if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(dst, []byte(c), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			for _, args := range [][]string{{"init", "-q"}, {"add", "-A"}, {"-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"}} {
				git(t, dir, args...)
			}
			// GitHub runs `run:` steps as bash --noprofile --norc -eo pipefail {0}.
			scriptFile := filepath.Join(t.TempDir(), "step.sh")
			if err := os.WriteFile(scriptFile, []byte(script), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("bash", "--noprofile", "--norc", "-eo", "pipefail", scriptFile)
			cmd.Dir = dir
			out, err := cmd.CombinedOutput()
			switch {
			case tc.fail == "" && err != nil:
				t.Errorf("the job failed on a repository without markers: %v\n%s", err, out)
			case tc.fail != "" && err == nil:
				t.Errorf("the job passed with conflict markers committed:\n%s", out)
			case tc.fail != "" && (!strings.Contains(string(out), tc.fail) || !strings.Contains(string(out), "::error::")):
				t.Errorf("the job's output does not point at %s with an ::error:: annotation:\n%s", tc.fail, out)
			}
		})
	}
}

func git(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

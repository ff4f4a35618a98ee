// Package smoke generates real repositories covering every option value and
// holds them to the standard the kit promises: gofmt clean, tidy, building,
// vetted, linted with their own strict config, their Dockerfile, compose file
// and workflow valid, and their own test suites green against live services.
package smoke

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/saaskit/saaskit/generator"
	"github.com/saaskit/saaskit/internal/kit"
	"github.com/saaskit/saaskit/internal/repocheck"
	"github.com/saaskit/saaskit/internal/testenv"
)

// cases are the golden trees' records (testdata/golden/*/.saaskit.yaml):
// the trees the golden tests hold byte for byte are the ones built and
// tested here. Together they cover every value of every option at least
// once (TestOptionsCoverEveryValue), not every combination: builds are the
// slow part.
func cases(t *testing.T) []kit.Case {
	t.Helper()
	cs, err := kit.GoldenCases(filepath.Join("..", "..", "testdata", "golden"))
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func TestOptionsCoverEveryValue(t *testing.T) {
	bp, _, err := kit.Load(kit.AppBlueprint)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range bp.Questions {
		for _, v := range q.Values() {
			found := false
			for _, c := range cases(t) {
				found = found || c.Answers[q.Name] == v
			}
			if !found {
				t.Errorf("no smoke case has %s=%s", q.Name, v)
			}
		}
	}
}

func TestGeneratedRepos(t *testing.T) {
	testenv.Slow(t, "the smoke tests build, lint and test whole generated repositories")
	// Postgres is needed by every case: without it skip at once.
	testenv.Service(t, "TEST_DATABASE_URL")
	bp, _, err := kit.Load(kit.AppBlueprint)
	if err != nil {
		t.Fatal(err)
	}
	all := cases(t)
	for _, tc := range all {
		t.Run(tc.Name, func(t *testing.T) {
			// The servers the answers need, as the blueprint declares them.
			var env []string
			for _, s := range bp.ServicesOf(tc.Answers) {
				env = append(env, s.TestEnv+"="+testenv.Service(t, s.TestEnv))
			}

			plan, err := kit.Renderer{}.Render(t.Context(), tc.Record)
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(t.TempDir(), tc.Answers["name"])
			if err := generator.Write(plan, dir, generator.WriteOptions{}); err != nil {
				t.Fatal(err)
			}

			if out := run(t, dir, nil, "gofmt", "-l", "."); len(bytes.TrimSpace(out)) > 0 {
				t.Errorf("gofmt -l lists files:\n%s", out)
			}
			run(t, dir, nil, "go", "mod", "tidy", "-diff")
			run(t, dir, nil, "go", "build", "./...")
			run(t, dir, nil, "go", "vet", "./...")
			lint(t, dir)
			checkOpenAPI(t, dir, tc.Answers["name"])
			checkDelivery(t, dir, tc.Answers)
			if tc.Name == all[0].Name {
				// Once is enough: the repo's own `make sqlc` (sqlc pinned in
				// tools.mod) regenerates exactly what the kit generated, so
				// the generated CI's drift check starts green.
				run(t, dir, nil, "go", "tool", "-modfile=tools.mod", "sqlc", "generate")
				assertUnchanged(t, dir, plan)
			}
			run(t, dir, env, "go", "test", "-count=1", "./...")
		})
	}
}

// assertUnchanged fails for every planned file whose content on disk differs.
func assertUnchanged(t *testing.T, dir string, plan *generator.Plan) {
	t.Helper()
	for _, f := range plan.Files {
		got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f.Path)))
		if err != nil {
			t.Errorf("%s: %v", f.Path, err)
			continue
		}
		if !bytes.Equal(got, f.Content) {
			t.Errorf("%s changed after make sqlc: the kit's sqlc output drifted from the repo's own", f.Path)
		}
	}
}

func lint(t *testing.T, dir string) {
	t.Helper()
	bin, err := repocheck.LookTool("golangci-lint")
	if err != nil {
		t.Run("golangci-lint", func(t *testing.T) { testenv.Absent(t, err.Error()) })
		return
	}
	// Parallel runs (another smoke test, a developer's editor) share the cache safely.
	run(t, dir, nil, bin, "run", "--allow-parallel-runners", "./...")
}

// checkOpenAPI runs the repo's outside validators of its OpenAPI document
// (make openapi-check: redocly, spectral, and openapi-typescript types
// under tsc --strict) when Node.js and npm are installed. Every smoke repo
// shares one npm cache, so only the first downloads the packages.
func checkOpenAPI(t *testing.T, dir, name string) {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Run("openapi-check", func(t *testing.T) {
				testenv.Absent(t, tool+" is not installed (make openapi-check needs Node.js and npm)")
			})
			return
		}
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	env := []string{"npm_config_cache=" + filepath.Join(cache, "saaskit-smoke-npm"), "npm_config_update_notifier=false"}
	doc := run(t, dir, nil, "go", "run", "./cmd/"+name, "openapi")
	tools := filepath.Join(dir, "tools", "openapi")
	if err := os.WriteFile(filepath.Join(tools, "openapi.json"), doc, 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, tools, env, "npm", "ci", "--prefer-offline", "--no-audit", "--no-fund")
	run(t, tools, env, "npm", "run", "--silent", "check")
}

// checkDelivery validates what cannot run here with the real parsers: the
// Dockerfile (buildkit), the compose file (compose-go) and the CI workflow
// (actionlint).
func checkDelivery(t *testing.T, dir string, a generator.Answers) {
	t.Helper()
	df, err := os.ReadFile(filepath.Join(dir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if err := repocheck.CheckAppDockerfile(df, a["name"]); err != nil {
		t.Errorf("Dockerfile: %v", err)
	}

	project, err := repocheck.Compose(t.Context(), dir, "docker-compose.yml")
	if err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	want := repocheck.AppCompose{
		Services:      []string{"api", "worker", "migrate", "postgres", "mailpit"},
		Healthchecked: []string{"api", "worker", "postgres", "mailpit"},
		OneShot:       []string{"migrate"},
		Waits:         map[string]map[string]string{"migrate": {"postgres": types.ServiceConditionHealthy}},
	}
	// The app's processes start once the schema is migrated and every
	// service they use is healthy.
	ready := map[string]string{
		"migrate":  types.ServiceConditionCompletedSuccessfully,
		"postgres": types.ServiceConditionHealthy,
		"mailpit":  types.ServiceConditionHealthy,
	}
	// Each server a chosen value brings (the blueprint's services beyond
	// its own) runs in compose under its service name.
	bp, _, err := kit.Load(kit.AppBlueprint)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range bp.ServicesOf(a) {
		if slices.Contains(bp.Services, s) {
			continue
		}
		want.Services = append(want.Services, s.Name)
		want.Healthchecked = append(want.Healthchecked, s.Name)
		ready[s.Name] = types.ServiceConditionHealthy
	}
	want.Waits["api"] = ready
	want.Waits["worker"] = ready
	if err := repocheck.CheckAppCompose(project, want); err != nil {
		t.Errorf("docker-compose.yml: %v", err)
	}
	for name := range project.Services {
		if !slices.Contains(want.Services, name) {
			t.Errorf("docker-compose.yml has service %q, which broker=%s does not need", name, a["broker"])
		}
	}

	err = repocheck.Workflow(t.Context(), filepath.Join(dir, ".github", "workflows", "ci.yml"))
	if errors.Is(err, repocheck.ErrToolMissing) {
		t.Run("actionlint", func(t *testing.T) { testenv.Absent(t, err.Error()) })
	} else if err != nil {
		t.Errorf("ci.yml: %v", err)
	}
}

// run runs a command in dir and fails the test, with its output, if it fails.
func run(t *testing.T, dir string, env []string, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

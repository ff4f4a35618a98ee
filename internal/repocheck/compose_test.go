package repocheck

import (
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
)

// appCompose is the shape of a generated docker-compose.yml; the broken
// cases below are edits of it.
const appCompose = `name: acme
services:
  app:
    build: .
    env_file:
      - path: .env
        required: false
    environment:
      DATABASE_URL: postgres://postgres:${POSTGRES_PASSWORD}@postgres:5432/acme?sslmode=disable
    ports:
      - "${APP_PORT:-8080}:8080"
    depends_on:
      migrate:
        condition: service_completed_successfully
      postgres:
        condition: service_healthy
  migrate:
    build: .
    command: ["migrate", "up"]
    depends_on:
      postgres:
        condition: service_healthy
  postgres:
    image: postgres:16
    environment:
      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD}
    volumes:
      - pgdata:/var/lib/postgresql/data
    healthcheck:
      test: ["CMD", "pg_isready", "-U", "postgres"]
      interval: 2s
  mailpit:
    image: axllent/mailpit:v1.27
    profiles: [mail]
volumes:
  pgdata:
`

func TestCompose(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{
		"docker-compose.yml": appCompose,
		EnvExample:           "# Copy to .env\nPOSTGRES_PASSWORD=from-example\n",
		".env":               "POSTGRES_PASSWORD=from-dotenv\n",
	})
	p, err := Compose(t.Context(), dir, "docker-compose.yml")
	if err != nil {
		t.Fatalf("valid compose file: %v", err)
	}
	if got := p.Services["postgres"].Environment["POSTGRES_PASSWORD"]; got == nil || *got != "from-example" {
		t.Errorf("POSTGRES_PASSWORD = %v, want it interpolated from %s, not .env", derefOr(got, "<unset>"), EnvExample)
	}
	if got := p.Services["app"].Ports; len(got) != 1 || got[0].Published != "8080" {
		t.Errorf("app ports = %+v, want ${APP_PORT:-8080} to default to 8080", got)
	}
	if _, ok := p.Services["mailpit"]; !ok {
		t.Errorf("service mailpit behind a profile was not loaded; have %v", p.ServiceNames())
	}
}

func TestComposeWithoutEnvExample(t *testing.T) {
	// Not parallel: it sets a process variable that must not leak in.
	t.Setenv("POSTGRES_PASSWORD", "from-os")
	dir := writeFiles(t, map[string]string{"compose.yaml": appCompose})
	p, err := Compose(t.Context(), dir, "compose.yaml")
	if err != nil {
		t.Fatalf("an unset variable must not fail the load: %v", err)
	}
	if got := p.Services["postgres"].Environment["POSTGRES_PASSWORD"]; got == nil || *got != "" {
		t.Errorf("POSTGRES_PASSWORD = %v, want empty: the process environment must not be used", derefOr(got, "<unset>"))
	}
}

func TestComposeBroken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"missing file", map[string]string{}, []string{"compose docker-compose.yml", "no such file or directory"}},
		{"not YAML", map[string]string{"docker-compose.yml": "services: [\n"}, []string{"compose docker-compose.yml", "yaml"}},
		{"wrong type", map[string]string{"docker-compose.yml": replace(t, appCompose,
			"    ports:\n      - \"${APP_PORT:-8080}:8080\"\n", "    ports: \"8080:8080\"\n")},
			[]string{"services.app.ports must be a array"}},
		{"unknown key", map[string]string{"docker-compose.yml": replace(t, appCompose, "image: postgres:16", "imagee: postgres:16")},
			[]string{"services.postgres.imagee"}},
		{"depends on an undefined service", map[string]string{"docker-compose.yml": replace(t, appCompose,
			"image: postgres:16", "image: postgres:16\n    depends_on: [redis]")},
			[]string{`depends on undefined service "redis"`}},
		{"undefined service in a profile", map[string]string{"docker-compose.yml": replace(t, appCompose,
			"profiles: [mail]", "profiles: [mail]\n    depends_on: [smtp]")},
			[]string{`depends on undefined service "smtp"`}},
		{"required variable not in .env.example", map[string]string{
			"docker-compose.yml": replace(t, appCompose, "image: postgres:16", "image: postgres:${PG_VERSION:?set PG_VERSION in .env}"),
			EnvExample:           "POSTGRES_PASSWORD=x\n",
		}, []string{"required variable PG_VERSION is missing a value: set PG_VERSION in .env"}},
		{"required env_file missing", map[string]string{"docker-compose.yml": replace(t, appCompose,
			"      - path: .env\n        required: false\n", "      - secrets.env\n")},
			[]string{"secrets.env", "not found"}},
		{"obsolete version", map[string]string{"docker-compose.yml": "# dev stack\nversion: \"3.9\"\n" + appCompose},
			[]string{"line 2: the top-level `version` attribute is obsolete"}},
		{"undefined volume", map[string]string{"docker-compose.yml": replace(t, appCompose, "volumes:\n  pgdata:\n", "")},
			[]string{"undefined volume pgdata"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := Compose(t.Context(), writeFiles(t, tt.files), "docker-compose.yml")
			if p != nil {
				t.Errorf("got a project along with the error")
			}
			wantErr(t, err, tt.want...)
		})
	}
}

func TestCheckAppCompose(t *testing.T) {
	t.Parallel()
	want := AppCompose{
		Services:      []string{"app", "migrate", "postgres", "mailpit"},
		Healthchecked: []string{"postgres"},
		OneShot:       []string{"migrate"},
		Waits: map[string]map[string]string{
			"app": {"migrate": types.ServiceConditionCompletedSuccessfully, "postgres": types.ServiceConditionHealthy},
		},
	}
	load := func(t *testing.T, content string) *types.Project {
		t.Helper()
		p, err := Compose(t.Context(), writeFiles(t, map[string]string{"compose.yaml": content}), "compose.yaml")
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	if err := CheckAppCompose(load(t, appCompose), want); err != nil {
		t.Errorf("valid compose file: %v", err)
	}

	// The loader refuses a file that depends on an undefined service; a
	// project built in code can still have one.
	undefinedDep := &types.Project{Services: types.Services{
		"app": {Name: "app", WorkloadSpec: types.WorkloadSpec{
			DependsOn: types.DependsOnConfig{"db": {Condition: types.ServiceConditionStarted}},
		}},
	}}
	tests := []struct {
		name    string
		project *types.Project
		want    AppCompose
		errs    []string
	}{
		{"missing services", load(t, appCompose),
			AppCompose{Services: []string{"app", "redis", "nats"}, Healthchecked: []string{"worker"}},
			[]string{`no service "redis" (have app, mailpit, migrate, postgres)`, `no service "nats"`, `no service "worker" to healthcheck`}},
		{"no healthcheck", load(t, appCompose),
			AppCompose{Healthchecked: []string{"postgres", "app"}},
			[]string{`service "app" has no healthcheck`}},
		{"healthcheck disabled", load(t, replace(t, appCompose, "      interval: 2s\n", "      interval: 2s\n      disable: true\n")),
			AppCompose{},
			[]string{`service "app" waits for "postgres" to be healthy, but "postgres" has no healthcheck`, `service "migrate" waits for "postgres" to be healthy`}},
		{"healthcheck test NONE", load(t, replace(t, appCompose, `test: ["CMD", "pg_isready", "-U", "postgres"]`, `test: ["NONE"]`)),
			want,
			[]string{`service "postgres" has no healthcheck`}},
		{"depends on an undefined service", undefinedDep, AppCompose{}, []string{`service "app" depends on undefined service "db"`}},
		{"one-shot service restarts", load(t, replace(t, appCompose, "    command: [\"migrate\", \"up\"]\n", "    command: [\"migrate\", \"up\"]\n    restart: unless-stopped\n")),
			AppCompose{OneShot: []string{"migrate"}},
			[]string{`one-shot service "migrate" restarts (unless-stopped)`}},
		{"waits on the wrong condition or not at all", load(t, replace(t, appCompose, "condition: service_completed_successfully", "condition: service_started")),
			AppCompose{Waits: map[string]map[string]string{
				"app":     {"migrate": types.ServiceConditionCompletedSuccessfully, "postgres": types.ServiceConditionHealthy},
				"migrate": {"mailpit": types.ServiceConditionHealthy},
			}},
			[]string{`service "app" waits for "migrate" on service_started, want service_completed_successfully`, `service "migrate" does not wait for "mailpit"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wantErr(t, CheckAppCompose(tt.project, tt.want), tt.errs...)
		})
	}
}

func derefOr(s *string, unset string) string {
	if s == nil {
		return unset
	}
	return *s
}

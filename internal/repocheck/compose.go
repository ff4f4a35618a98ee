package repocheck

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/template"
	"github.com/compose-spec/compose-go/v2/types"
	"gopkg.in/yaml.v3"
)

// EnvExample is the file a generated repository documents its environment
// in; Compose interpolates the compose file from it.
const EnvExample = ".env.example"

// Compose loads file (relative to dir) as `docker compose config` would,
// offline: it validates against the compose schema, interpolates variables,
// resolves env_file entries and checks that every reference (depends_on,
// networks, volumes, secrets) points at something defined. Every profile is
// enabled, so services behind one are checked too.
//
// Variables come from dir/.env.example when it exists, never from the
// process environment or a developer's .env, so the result is the same on
// every machine. A variable set nowhere becomes empty, as compose makes it,
// but silently; `${VAR:?message}` still fails.
func Compose(ctx context.Context, dir, file string) (*types.Project, error) {
	opts := []cli.ProjectOptionsFn{
		cli.WithWorkingDirectory(dir),
		cli.WithProfiles([]string{"*"}),
		cli.WithLoadOptions(func(o *loader.Options) {
			// compose logs each unset variable through logrus; library
			// code has no business writing to the test's stderr. (Load
			// options are applied to option sets without interpolation
			// too.)
			if o.Interpolate != nil {
				o.Interpolate.Substitute = func(s string, m template.Mapping) (string, error) {
					return template.SubstituteWithOptions(s, m, template.WithoutLogging)
				}
			}
		}),
	}
	// compose only warns (through logrus) about an obsolete top-level
	// version; in a file we generate it is an error.
	if content, err := os.ReadFile(filepath.Join(dir, file)); err == nil {
		var top struct {
			Version yaml.Node `yaml:"version"`
		}
		if yaml.Unmarshal(content, &top) == nil && top.Version.Kind != 0 {
			return nil, fmt.Errorf("compose %s: line %d: the top-level `version` attribute is obsolete; remove it", file, top.Version.Line)
		}
	}
	example := filepath.Join(dir, EnvExample)
	if _, err := os.Stat(example); err == nil {
		opts = append(opts, cli.WithEnvFiles(example), cli.WithDotEnv)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("compose: %w", err)
	}
	po, err := cli.NewProjectOptions([]string{filepath.Join(dir, file)}, opts...)
	if err != nil {
		return nil, fmt.Errorf("compose %s: %w", file, err)
	}
	p, err := po.LoadProject(ctx)
	if err != nil {
		return nil, fmt.Errorf("compose %s: %w", file, err)
	}
	return p, nil
}

// AppCompose is what a generated compose file must provide.
type AppCompose struct {
	// Services must be defined.
	Services []string
	// Healthchecked services must define an enabled healthcheck, so that
	// `depends_on: {condition: service_healthy}` and `docker compose up
	// --wait` mean something.
	Healthchecked []string
	// OneShot services run once and exit: they must not be restarted.
	OneShot []string
	// Waits maps a service to the services it must wait for, each with the
	// condition it waits on (types.ServiceConditionHealthy, ...).
	Waits map[string]map[string]string
}

// CheckAppCompose checks a loaded project against want, and that every
// depends_on names a defined service and, where it waits for the service to
// be healthy, one with a healthcheck (compose would otherwise fail at `up`).
// Every problem found is reported, one per line.
func CheckAppCompose(p *types.Project, want AppCompose) error {
	services := p.AllServices()
	var problems []error
	fail := func(format string, args ...any) {
		problems = append(problems, fmt.Errorf("compose: "+format, args...))
	}
	for _, name := range want.Services {
		if _, ok := services[name]; !ok {
			fail("no service %q (have %s)", name, strings.Join(slices.Sorted(maps.Keys(services)), ", "))
		}
	}
	for _, name := range want.Healthchecked {
		if s, ok := services[name]; ok && !hasHealthcheck(s) {
			fail("service %q has no healthcheck", name)
		} else if !ok && !slices.Contains(want.Services, name) {
			fail("no service %q to healthcheck", name)
		}
	}
	for _, name := range want.OneShot {
		if s, ok := services[name]; ok && s.Restart != "" && s.Restart != types.RestartPolicyNo {
			fail("one-shot service %q restarts (%s)", name, s.Restart)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(want.Waits)) {
		s, ok := services[name]
		if !ok {
			continue // reported above when it is a wanted service
		}
		for _, dep := range slices.Sorted(maps.Keys(want.Waits[name])) {
			cond := want.Waits[name][dep]
			got, ok := s.DependsOn[dep]
			switch {
			case !ok:
				fail("service %q does not wait for %q", name, dep)
			case got.Condition != cond:
				fail("service %q waits for %q on %s, want %s", name, dep, got.Condition, cond)
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(services)) {
		for _, dep := range slices.Sorted(maps.Keys(services[name].DependsOn)) {
			target, ok := services[dep]
			switch {
			case !ok:
				fail("service %q depends on undefined service %q", name, dep)
			case services[name].DependsOn[dep].Condition == types.ServiceConditionHealthy && !hasHealthcheck(target):
				fail("service %q waits for %q to be healthy, but %q has no healthcheck", name, dep, dep)
			}
		}
	}
	return errors.Join(problems...)
}

func hasHealthcheck(s types.ServiceConfig) bool {
	h := s.HealthCheck
	return h != nil && !h.Disable && len(h.Test) > 0 && h.Test[0] != "NONE"
}

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/saaskit/saaskit/generator"
	"github.com/saaskit/saaskit/internal/kit"
	"github.com/saaskit/saaskit/internal/testenv"
)

func TestMain(m *testing.M) {
	if code, ok := generator.SQLCChild(); ok {
		os.Exit(code)
	}
	testscript.Main(m, map[string]func(){
		"saaskit": main,
	})
}

// TestScripts runs every testdata/script/*.txtar; each is one scenario of a
// command, a flag or an error path.
func TestScripts(t *testing.T) {
	t.Parallel()
	bp, _, err := kit.Load(kit.AppBlueprint)
	if err != nil {
		t.Fatal(err)
	}
	// TEST_PGBOUNCER_ADDR is no server of the blueprint's but a proxy in
	// front of Postgres, which the generated tests also reach.
	serviceEnv := []string{"SAASKIT_REQUIRE_SERVICES", "TEST_PGBOUNCER_ADDR"}
	for _, s := range bp.AllServices() {
		serviceEnv = append(serviceEnv, s.TestEnv)
	}
	gomodcache := goEnv(t, "GOMODCACHE")
	gocache := goEnv(t, "GOCACHE")
	goproxy := goEnv(t, "GOPROXY")
	t.Cleanup(removeOldKit)
	testscript.Run(t, testscript.Params{
		Dir: filepath.Join("..", "..", "testdata", "script"),
		Setup: func(env *testscript.Env) error {
			// HOME is isolated by testscript; reuse the host's module and
			// build caches so scripts that run the go command stay fast.
			env.Setenv("GOMODCACHE", gomodcache)
			env.Setenv("GOCACHE", gocache)
			env.Setenv("GOFLAGS", "-mod=mod")
			// Modules come from the shared cache; what a cold cache lacks,
			// from the proxy the tests run with.
			env.Setenv("GOPROXY", goproxy)
			env.Setenv("GIT_CONFIG_NOSYSTEM", "1")
			env.Setenv("ACCESSIBLE", "")
			// Generated repositories' own tests reach the live services:
			// every one the blueprint may need.
			for _, k := range serviceEnv {
				env.Setenv(k, os.Getenv(k))
			}
			if os.Getenv("SAASKIT_REQUIRE_SERVICES") == "1" && os.Getenv("TEST_DATABASE_URL") == "" {
				return fmt.Errorf("SAASKIT_REQUIRE_SERVICES=1 but TEST_DATABASE_URL is not set")
			}
			return nil
		},
		// [env:NAME] holds when the variable is set and not empty;
		// [exhaustive] in the exhaustive run (testenv.Exhaustive), which
		// builds and tests the repositories the scenarios leave behind.
		Condition: func(cond string) (bool, error) {
			if name, ok := strings.CutPrefix(cond, "env:"); ok {
				return os.Getenv(name) != "", nil
			}
			if cond == "exhaustive" {
				return testenv.Exhaustive(), nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"oldkit": cmdOldKit,
		},
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
	})
}

func goEnv(t *testing.T, key string) string {
	t.Helper()
	v, err := goEnvValue(key)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// goEnvValue returns `go env key` in the test process's environment.
func goEnvValue(key string) (string, error) {
	out, err := exec.Command("go", "env", key).Output()
	if err != nil {
		return "", fmt.Errorf("go env %s: %w", key, err)
	}
	return strings.TrimSpace(string(out)), nil
}

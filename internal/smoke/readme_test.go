package smoke

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/saaskit/saaskit/generator"
	"github.com/saaskit/saaskit/internal/kit"
	"github.com/saaskit/saaskit/internal/testenv"
)

// TestReadmeRunsWithoutDocker follows each smoke case's generated README,
// section "Without Docker", as a new user would on a machine with the
// services installed: its SQL as a Postgres superuser (psql), .env.example
// copied to .env, `migrate`, `dev`, and its curl walkthrough, which must
// create a tenant and list its (empty) projects. Each case is generated
// under a name of its own, so the roles and databases the README creates
// collide with nothing, and they are dropped afterwards.
func TestReadmeRunsWithoutDocker(t *testing.T) {
	testenv.Slow(t, "the README walkthrough builds and runs generated apps")
	superuser := testenv.Service(t, "TEST_DATABASE_URL")
	for _, tool := range []string{"psql", "curl", "sh"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Absent(t, tool+" is not installed; the README walkthrough uses it")
		}
	}
	bp, _, err := kit.Load(kit.AppBlueprint)
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range cases(t) {
		t.Run(tc.Name, func(t *testing.T) {
			for _, s := range bp.ServicesOf(tc.Answers) {
				testenv.Service(t, s.TestEnv)
			}
			rec := *tc.Record
			rec.Answers = maps.Clone(tc.Answers)
			// No hyphen: database mode names tenant databases NAME_slug
			// with the name's hyphens left out.
			name := fmt.Sprintf("readme%d%06d", i, time.Now().UnixNano()%1_000_000)
			rec.Answers["name"] = name
			plan, err := kit.Renderer{}.Render(t.Context(), &rec)
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(t.TempDir(), name)
			if err := generator.Write(plan, dir, generator.WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
			if err != nil {
				t.Fatal(err)
			}
			section := readmeSection(t, string(readme), "### Without Docker")
			setup, walkthrough := codeBlock(t, section, "sql"), codeBlock(t, section, "sh")

			t.Cleanup(func() { dropReadmeObjects(t, superuser, name) })
			psql := exec.CommandContext(t.Context(), "psql", superuser, "-v", "ON_ERROR_STOP=1", "-q", "-f", "-")
			psql.Stdin = strings.NewReader(setup)
			if out, err := psql.CombinedOutput(); err != nil {
				t.Fatalf("the README's SQL failed: %v\n%s\n%s", err, setup, out)
			}
			run(t, dir, nil, "cp", ".env.example", ".env")
			bin := filepath.Join(t.TempDir(), name)
			run(t, dir, nil, "go", "build", "-o", bin, "./cmd/"+name)

			// The settings come from .env, as the README says, except these
			// (the environment wins): free ports, and a Redis database no
			// test uses, so the worker takes no other test's jobs.
			addr, metrics := freeAddr(t), freeAddr(t)
			env := append(withoutSettings(t, dir), "HTTP_ADDR="+addr, "WORKER_METRICS_ADDR="+metrics, "REDIS_URL=redis://localhost:6379/15")
			runWith(t, dir, env, bin, "migrate")
			ctx, cancel := context.WithCancel(t.Context())
			dev := exec.CommandContext(ctx, bin, "dev")
			dev.Dir, dev.Env = dir, env
			var logs strings.Builder
			dev.Stdout, dev.Stderr = &logs, &logs
			if err := dev.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				cancel()
				_ = dev.Wait()
			})
			waitReady(t, "http://"+addr+"/readyz", &logs)

			script := strings.ReplaceAll(walkthrough, "go run ./cmd/"+name, bin)
			script = strings.ReplaceAll(script, "localhost:8080", addr)
			out := runWith(t, dir, env, "sh", "-e", "-c", script)
			for _, want := range []string{`"slug":"acme"`, `"items":[]`} {
				if !strings.Contains(string(out), want) {
					t.Errorf("the README's walkthrough printed no %s:\n%s\n--- script ---\n%s\n--- app ---\n%s", want, out, script, logs.String())
				}
			}
		})
	}
}

// withoutSettings is this process's environment without any variable
// .env.example sets, so that the app reads those from .env.
func withoutSettings(t *testing.T, dir string) []string {
	t.Helper()
	example, err := os.ReadFile(filepath.Join(dir, ".env.example"))
	if err != nil {
		t.Fatal(err)
	}
	set := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^#? ?([A-Z][A-Z0-9_]*)=`).FindAllStringSubmatch(string(example), -1) {
		set[m[1]] = true
	}
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !set[k] {
			env = append(env, kv)
		}
	}
	return env
}

// runWith runs name in dir with exactly env and returns its output.
func runWith(t *testing.T, dir string, env []string, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), name, args...)
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// readmeSection returns the part of readme from heading to the next heading
// of the same or a higher level.
func readmeSection(t *testing.T, readme, heading string) string {
	t.Helper()
	_, rest, ok := strings.Cut(readme, "\n"+heading+"\n")
	if !ok {
		t.Fatalf("the README has no %q section", heading)
	}
	if end := regexp.MustCompile(`\n#{1,3} `).FindStringIndex(rest); end != nil {
		rest = rest[:end[0]]
	}
	return rest
}

// codeBlock returns the first fenced block of lang in text, without the
// indentation of the list item it sits in.
func codeBlock(t *testing.T, text, lang string) string {
	t.Helper()
	m := regexp.MustCompile("(?s)\n( *)```" + lang + "\n(.*?)\n *```").FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no ```%s block in:\n%s", lang, text)
	}
	lines := strings.Split(m[2], "\n")
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(l, m[1])
	}
	return strings.Join(lines, "\n") + "\n"
}

// freeAddr returns a local address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// waitReady waits up to two minutes for url to answer 200.
func waitReady(t *testing.T, url string, logs fmt.Stringer) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s never answered 200; the app logged:\n%s", url, logs)
}

// dropReadmeObjects drops what the README's SQL and the app made for the
// app name: its databases (the control one and, in database mode, the
// tenants') and its roles.
func dropReadmeObjects(t *testing.T, superuser, name string) {
	t.Helper()
	u, err := url.Parse(superuser)
	if err != nil {
		t.Error(err)
		return
	}
	quoted := strings.ReplaceAll(name, `"`, `""`)
	sql := fmt.Sprintf(`
SELECT format('DROP DATABASE %%I WITH (FORCE)', datname) FROM pg_database WHERE datname = '%[1]s' OR datname LIKE '%[1]s\_%%' \gexec
DROP ROLE IF EXISTS "%[2]s_app";
DROP ROLE IF EXISTS "%[2]s";
`, name, quoted)
	cmd := exec.Command("psql", u.String(), "-v", "ON_ERROR_STOP=1", "-q", "-f", "-")
	cmd.Stdin = strings.NewReader(sql)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("dropping the README's databases and roles: %v\n%s", err, out)
	}
}

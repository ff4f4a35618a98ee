package cli_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"maps"
	"mime/quotedprintable"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/acme/shop-api/internal/cli"
	"github.com/acme/shop-api/internal/testsvc"
)

// liveEnv returns a complete environment pointing at a fresh database and the
// live broker, listening on a free loopback port.
func liveEnv(t *testing.T) map[string]string {
	t.Helper()
	return testsvc.AppEnv(t)
}

// run runs the command line and returns its error, stdout and stderr.
func run(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	return runWithInput(t, env, "", args...)
}

// runWithInput is run with stdin reading input.
func runWithInput(t *testing.T, env map[string]string, input string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = cli.Run(t.Context(), append([]string{"shop-api"}, args...), testsvc.Getenv(env), strings.NewReader(input), &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestUsage(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name     string
		args     []string
		exitCode int
		stdout   string
		stderr   string
	}{
		{"no command", nil, 2, "", "Usage:"},
		{"unknown command", []string{"frobnicate"}, 2, "", "Usage:"},
		{"help", []string{"help"}, 0, "Usage:", ""},
		{"--help", []string{"--help"}, 0, "Usage:", ""},
		{"serve -h", []string{"serve", "-h"}, 0, "", "Usage: shop-api serve"},
		{"serve with an argument", []string{"serve", "now"}, 2, "", "Usage: shop-api serve"},
		{"unknown flag", []string{"dev", "-verbose"}, 2, "", "flag provided but not defined"},
		{"unknown migrate action", []string{"migrate", "sideways"}, 2, "", ""},
		{"tenant without action", []string{"tenant"}, 2, "", "Usage: shop-api tenant create"},
		{"tenant -h", []string{"tenant", "-h"}, 0, "", "Usage: shop-api tenant create"},
		{"unknown tenant action", []string{"tenant", "delete"}, 2, "", ""},
		{"tenant create -h", []string{"tenant", "create", "-h"}, 0, "", "-slug slug"},
		{"tenant create without flags", []string{"tenant", "create"}, 2, "", "Usage: shop-api tenant create"},
		{"tenant create without a name", []string{"tenant", "create", "--slug", "acme"}, 2, "", ""},
		{"tenant migrate -h", []string{"tenant", "migrate", "-h"}, 0, "", "-check"},
		{"tenant migrate with a bad concurrency", []string{"tenant", "migrate", "--concurrency", "0"}, 2, "", ""},
		{"tenant list with an argument", []string{"tenant", "list", "all"}, 2, "", ""},
		{"user without action", []string{"user"}, 2, "", "Usage: shop-api user create"},
		{"unknown user action", []string{"user", "delete"}, 2, "", ""},
		{"user create -h", []string{"user", "create", "-h"}, 0, "", "-password-stdin"},
		{"user create without --password-stdin", []string{"user", "create", "--email", "ada@example.com"}, 2, "", "passwords never go on the command line"},
		{"jobs without action", []string{"jobs"}, 2, "", ""},
		{"unknown jobs action", []string{"jobs", "frobnicate"}, 2, "", ""},
		{"jobs retry without id", []string{"jobs", "retry"}, 2, "", ""},
		{"jobs list bad state", []string{"jobs", "list", "-state", "finished"}, 2, "", ""},
		{"jobs list bad limit", []string{"jobs", "list", "-limit", "0"}, 2, "", ""},
		{"mail without test", []string{"mail", "ada@example.com"}, 2, "", ""},
		{"healthcheck of what", []string{"healthcheck", "database"}, 2, "", ""},
		{"mail test bad address", []string{"mail", "test", "not-an-address"}, 2, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			stdout, stderr, err := run(t, map[string]string{}, tt.args...)
			require.Equal(t, tt.exitCode, cli.ExitCode(err), "error: %v", err)
			if tt.stdout == "" {
				require.Empty(t, stdout)
			} else {
				require.Contains(t, stdout, tt.stdout)
			}
			require.Contains(t, stderr, tt.stderr)
		})
	}
}

// openapi writes the document the server serves, without any service:
// the environment names no database.
func TestOpenAPIWritesTheDocument(t *testing.T) {
	t.Parallel()
	env := map[string]string{"DATABASE_URL": "", "BASE_DOMAIN": "saas.example.com"}

	stdout, _, err := run(t, env, "openapi")
	require.NoError(t, err)
	var doc struct {
		OpenAPI string `json:"openapi"`
		Info    struct {
			Description string `json:"description"`
		} `json:"info"`
		Paths map[string]json.RawMessage `json:"paths"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &doc))
	require.True(t, strings.HasPrefix(doc.OpenAPI, "3.1."), doc.OpenAPI)
	require.Contains(t, doc.Paths, "/v1/tenants")
	require.Contains(t, doc.Info.Description, "acme.saas.example.com")

	stdout, _, err = run(t, env, "openapi", "-yaml")
	require.NoError(t, err)
	require.Regexp(t, `(?m)^openapi: 3\.1\.`, stdout)
	require.Contains(t, stdout, "/v1/tenants:")

	_, _, err = run(t, env, "openapi", "extra")
	var usage *cli.UsageError
	require.ErrorAs(t, err, &usage)
}

func TestUsageListsEveryCommand(t *testing.T) {
	t.Parallel()

	stdout, _, _ := run(t, nil, "help")
	for _, name := range []string{"serve", "worker", "jobs", "mail", "migrate", "tenant", "user", "dev", "openapi", "healthcheck", "help"} {
		require.Regexp(t, `(?m)^  `+name+`\b`, stdout)
		require.Len(t, regexp.MustCompile(`(?m)^  `+name+`\b`).FindAllString(stdout, -1), 1, "%s listed once", name)
	}
	for line := range strings.Lines(stdout) {
		require.LessOrEqual(t, len(strings.TrimSuffix(line, "\n")), 100, "the help fits 100 columns: %q", line)
	}
}

func TestConfigErrorsNameEveryVariable(t *testing.T) {
	t.Parallel()

	for _, command := range []string{"serve", "worker", "dev"} {
		_, _, err := run(t, map[string]string{"SECRET_KEY": "short"}, command)
		require.Equal(t, 1, cli.ExitCode(err))
		for _, name := range []string{"DATABASE_URL", "SECRET_KEY"} {
			require.ErrorContains(t, err, name)
		}
	}
	// Commands that only touch the database need only its variables,
	// and SECRET_KEY, which seals tenants' transactions.
	for _, args := range [][]string{
		{"migrate"}, {"tenant", "list"}, {"tenant", "migrate"},
		{"tenant", "create", "--slug", "acme", "--name", "Acme"},
	} {
		_, _, err := run(t, map[string]string{"SECRET_KEY": "short"}, args...)
		require.Equal(t, 1, cli.ExitCode(err))
		require.ErrorContains(t, err, "DATABASE_URL")
		require.ErrorContains(t, err, "SECRET_KEY")
	}
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	env := liveEnv(t)

	stdout, _, err := run(t, env, "migrate", "status")
	require.NoError(t, err)
	require.Regexp(t, `00001_control_plane\.sql\s+pending`, stdout)

	stdout, _, err = run(t, env, "migrate")
	require.NoError(t, err)
	require.Contains(t, stdout, "OK    up 00001_control_plane.sql")
	require.Contains(t, stdout, "OK    up 00010_jobs.sql")
	require.Regexp(t, `\([1-9][0-9]* applied now\)`, stdout)
	requireQueueMigrated(t, stdout, true)
	require.Contains(t, stdout, "tenant migrations: 1 visited, 6 migrations applied, 0 failed", "the shared tenant tables")

	stdout, _, err = run(t, env, "migrate", "up")
	require.NoError(t, err)
	require.Contains(t, stdout, "(0 applied now)")
	require.Contains(t, stdout, "0 migrations applied, 0 failed")
	requireQueueMigrated(t, stdout, false)

	stdout, _, err = run(t, env, "migrate", "status")
	require.NoError(t, err)
	require.Regexp(t, `00001_control_plane\.sql\s+applied\s+\d{4}-`, stdout)
}

func TestServeEndToEnd(t *testing.T) {
	t.Parallel()
	env := liveEnv(t)
	srv := start(t, env, "serve")

	status, _ := get(t, "http://"+srv.addr+"/healthz")
	require.Equal(t, http.StatusOK, status)

	status, body := get(t, "http://"+srv.addr+"/readyz")
	require.Equal(t, http.StatusOK, status, "database and broker are live: %s", body)
	var ready struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	require.NoError(t, json.Unmarshal(body, &ready))
	require.Equal(t, "ok", ready.Status)
	want := map[string]string{"database": "ok", "tenants": "ok"}
	maps.Copy(want, brokerChecks)
	require.Equal(t, want, ready.Checks)

	// The container health check talks to the same server.
	env["HTTP_ADDR"] = srv.addr
	stdout, _, err := run(t, env, "healthcheck")
	require.NoError(t, err)
	require.Equal(t, "ok\n", stdout)

	// `openapi` writes the document the server serves, with no server.
	status, served := get(t, "http://"+srv.addr+"/openapi.json")
	require.Equal(t, http.StatusOK, status)
	stdout, _, err = run(t, env, "openapi")
	require.NoError(t, err)
	require.JSONEq(t, string(served), stdout)
	_, _, err = run(t, map[string]string{}, "openapi")
	require.NoError(t, err, "it needs no settings")
	stdout, _, err = run(t, env, "openapi", "-yaml")
	require.NoError(t, err)
	require.Contains(t, stdout, "openapi: 3.1.0")

	srv.stop(t)
	require.Contains(t, srv.stderr.String(), `"msg":"server stopped"`)
	require.Contains(t, srv.stderr.String(), `"msg":"http request"`, "JSON request logs")
}

// Behind PgBouncer in transaction mode (README: Behind PgBouncer), with
// DATABASE_URL through it and DATABASE_SESSION_URL around it: migrate,
// tenant creation, serve and the worker work, and readiness checks both
// connections.
func TestServeBehindATransactionPooler(t *testing.T) {
	t.Parallel()
	env := liveEnv(t)
	smtp := testsvc.NewSMTPServer(t)
	env["SMTP_URL"] = smtp.URL()
	env["WORKER_METRICS_ADDR"] = "127.0.0.1:0"
	env["DATABASE_SESSION_URL"] = env["DATABASE_URL"]
	env["DATABASE_URL"] = testsvc.ThroughPooler(t, env["DATABASE_URL"])
	_, stderr, err := run(t, env, "migrate")
	require.NoError(t, err, stderr)
	_, stderr, err = run(t, env, "tenant", "create", "--slug", "acme", "--name", "Acme")
	require.NoError(t, err, stderr)

	srv := start(t, env, "serve")
	status, body := get(t, "http://"+srv.addr+"/readyz")
	require.Equal(t, http.StatusOK, status, "%s", body)
	var ready struct {
		Checks map[string]string `json:"checks"`
	}
	require.NoError(t, json.Unmarshal(body, &ready))
	want := map[string]string{"database": "ok", "database-session": "ok", "tenants": "ok"}
	maps.Copy(want, brokerChecks)
	require.Equal(t, want, ready.Checks)
	srv.stop(t)

	worker := start(t, env, "worker")
	_, stderr, err = run(t, env, "mail", "test", "ada@example.com")
	require.NoError(t, err, stderr)
	require.Eventually(t, func() bool { return len(smtp.Mail()) == 1 }, 20*time.Second, 50*time.Millisecond, "the worker sends the mail")
	worker.stop(t)
}

// A new SECRET_KEY takes effect with migrate, which gives the database the
// seal's new key before anything checks the seal: until then the tenant
// commands refuse to run with it, and afterwards with the old one.
func TestMigrateTakesANewSecretKey(t *testing.T) {
	t.Parallel()
	env := liveEnv(t)
	_, _, err := run(t, env, "migrate")
	require.NoError(t, err)
	_, _, err = run(t, env, "tenant", "create", "--slug", "acme", "--name", "Acme")
	require.NoError(t, err)

	rotated := maps.Clone(env)
	rotated["SECRET_KEY"] = strings.Repeat("r", 64)
	_, _, err = run(t, rotated, "tenant", "list")
	require.ErrorContains(t, err, "SECRET_KEY is not the one `migrate` last ran with")
	_, stderr, err := run(t, rotated, "migrate")
	require.NoError(t, err, stderr)
	stdout, _, err := run(t, rotated, "tenant", "list")
	require.NoError(t, err)
	require.Contains(t, stdout, "acme")
	_, _, err = run(t, env, "tenant", "list")
	require.ErrorContains(t, err, "SECRET_KEY is not the one `migrate` last ran with", "the old key no longer seals")
}

// Row-level security does not apply to a superuser: serve refuses to start
// on one rather than answer /readyz and fail every tenant's request.
func TestServeRefusesARoleRowSecurityDoesNotConfine(t *testing.T) {
	t.Parallel()
	env := liveEnv(t)
	env["DATABASE_URL"] = env["MIGRATE_DATABASE_URL"] // the tests' owner is a superuser
	delete(env, "MIGRATE_DATABASE_URL")               // serve does not need it

	_, _, err := run(t, env, "serve")
	require.ErrorContains(t, err, "superuser or BYPASSRLS")
}

func TestServeFailsWhenTheAddressIsTaken(t *testing.T) {
	t.Parallel()
	env := liveEnv(t)
	srv := start(t, env, "serve")

	env["HTTP_ADDR"] = srv.addr
	_, _, err := run(t, env, "serve")
	require.ErrorContains(t, err, "listen on HTTP_ADDR")
	srv.stop(t)
}

func TestDevMigratesThenServesAndWorks(t *testing.T) {
	t.Parallel()
	env := liveEnv(t)
	smtp := testsvc.NewSMTPServer(t)
	env["SMTP_URL"] = smtp.URL()
	env["EMAIL_VERIFICATION"] = "required"
	env["APP_URL"] = "https://app.example.com"
	srv := start(t, env, "dev")
	requireJobsSealed := watchJobs(t, env)

	status, _ := get(t, "http://"+srv.addr+"/healthz")
	require.Equal(t, http.StatusOK, status)

	conn, err := pgx.Connect(t.Context(), env["DATABASE_URL"])
	require.NoError(t, err)
	defer func() { require.NoError(t, conn.Close(context.WithoutCancel(t.Context()))) }()
	var exists bool
	require.NoError(t, conn.QueryRow(t.Context(), `SELECT to_regclass('public.tenants') IS NOT NULL`).Scan(&exists))
	require.True(t, exists, "dev applied the migrations")

	stdout, _, err := run(t, env, "mail", "test", "dev@example.com")
	require.NoError(t, err)
	require.Contains(t, stdout, "enqueued a test email to dev@example.com")
	require.Eventually(t, func() bool { return len(smtp.Mail()) == 1 }, 15*time.Second, 50*time.Millisecond,
		"the worker inside dev sends it")
	require.Equal(t, []string{"dev@example.com"}, smtp.Mail()[0].To)

	require.Eventually(t, func() bool {
		_, body := get(t, "http://"+srv.addr+"/metrics")
		return strings.Contains(string(body), `jobs_processed_total{kind="mail.send",queue="email"} 1`)
	}, 5*time.Second, 50*time.Millisecond, "the API serves the worker's metrics in dev")

	// An invitation's email is a job of its tenant, queued with the
	// invitation and sent by the worker inside the tenant's scope.
	base := "http://" + srv.addr
	// Sign-up mails a verification link, which signing in waits for.
	status, body := send(t, http.MethodPost, base+"/v1/auth/signup", "", "", `{"email":"ada@example.com","password":"correct horse battery staple","name":"Ada"}`)
	require.Equal(t, http.StatusCreated, status, string(body))
	status, body = send(t, http.MethodPost, base+"/v1/auth/login", "", "", `{"email":"ada@example.com","password":"correct horse battery staple"}`)
	require.Equal(t, http.StatusForbidden, status, "EMAIL_VERIFICATION=required: %s", body)
	require.Eventually(t, func() bool { return len(smtp.Mail()) == 2 }, 15*time.Second, 50*time.Millisecond,
		"the worker sends the verification link")
	verification := smtp.Mail()[1]
	require.Equal(t, []string{"ada@example.com"}, verification.To)
	link := regexp.MustCompile(`https://app\.example\.com/verify-email#token=(ver_[A-Z2-7]{26})`).FindStringSubmatch(mailText(t, verification))
	require.NotNil(t, link, "a link to APP_URL carrying the token: %s", verification.Data)
	verifyToken := link[1]
	status, body = send(t, http.MethodPost, base+"/v1/auth/verify", "", "", `{"token":"`+verifyToken+`"}`)
	require.Equal(t, http.StatusNoContent, status, string(body))
	status, body = send(t, http.MethodPost, base+"/v1/auth/login", "", "", `{"email":"ada@example.com","password":"correct horse battery staple"}`)
	require.Equal(t, http.StatusOK, status, string(body))
	var login struct {
		Token string `json:"token"`
	}
	require.NoError(t, json.Unmarshal(body, &login))
	status, body = send(t, http.MethodPost, base+"/v1/tenants", login.Token, "", `{"slug":"acme","name":"Acme"}`)
	require.Equal(t, http.StatusCreated, status, string(body))
	status, body = send(t, http.MethodPost, base+"/v1/invitations", login.Token, "acme", `{"email":"grace@example.com","role":"member"}`)
	require.Equal(t, http.StatusCreated, status, string(body))
	require.Eventually(t, func() bool { return len(smtp.Mail()) == 3 }, 15*time.Second, 50*time.Millisecond,
		"the worker sends the invitation")
	invitation := smtp.Mail()[2]
	require.Equal(t, []string{"grace@example.com"}, invitation.To)
	require.Contains(t, invitation.Data, "You are invited to join Acme")
	link = regexp.MustCompile(`https://app\.example\.com/invitations/accept#token=(inv_[A-Z2-7]{26})`).FindStringSubmatch(mailText(t, invitation))
	require.NotNil(t, link, "a link to APP_URL carrying the token: %s", invitation.Data)
	token := link[1]
	secrets := []string{token, verifyToken, "grace@", "ada@", "dev@example.com"}
	requireJobsSealed(t, secrets...)

	srv.stop(t)
	require.Contains(t, srv.stderr.String(), `msg="server stopped"`, "human-readable logs")
	require.NotContains(t, srv.stderr.String(), "job failed", "no job failed on the way")
}

// mailText returns the decoded text of a plain-text message (quoted-printable
// may wrap a long link anywhere).
func mailText(t *testing.T, m testsvc.Mail) string {
	t.Helper()
	_, body, ok := strings.Cut(m.Data, "\r\n\r\n")
	require.True(t, ok, "no body in %q", m.Data)
	text, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(body)))
	require.NoError(t, err)
	return string(text)
}

// sealedBox finds the base64 box of sealed mail in JSON, escaped or not.
var sealedBox = regexp.MustCompile(`box\\*"\s*:\s*\\*"([A-Za-z0-9+/]+=*)`)

// requireSealed requires that none of secrets is readable in stored, nor
// in any sealed box it holds once base64-decoded, and returns how many
// boxes it holds.
func requireSealed(t *testing.T, stored string, secrets ...string) int {
	t.Helper()
	boxes := sealedBox.FindAllStringSubmatch(stored, -1)
	for _, box := range boxes {
		raw, err := base64.StdEncoding.DecodeString(box[1])
		require.NoError(t, err)
		for _, secret := range secrets {
			require.NotContains(t, string(raw), secret)
		}
	}
	for _, secret := range secrets {
		require.NotContains(t, stored, secret)
	}
	return len(boxes)
}

func TestHealthcheckFailsWithoutAServer(t *testing.T) {
	t.Parallel()

	_, _, err := run(t, map[string]string{"HTTP_ADDR": testsvc.ClosedAddr(t)}, "healthcheck")
	require.ErrorContains(t, err, "healthcheck")
	require.Equal(t, 1, cli.ExitCode(err))
}

// server is a command running in the background until stop.
type server struct {
	addr   string
	stderr *testsvc.LogBuffer
	cancel context.CancelFunc
	done   chan error
}

var (
	listening       = regexp.MustCompile(`http server listening.*?addr"?[=:]"?([0-9.:\[\]]+)`)
	workerListening = regexp.MustCompile(`worker metrics listening.*?addr"?[=:]"?([0-9.:\[\]]+)`)
)

// start runs a serving command and waits until it listens.
func start(t *testing.T, env map[string]string, command string) *server {
	t.Helper()
	pattern := listening
	if command == "worker" {
		pattern = workerListening
	}
	ctx, cancel := context.WithCancel(t.Context())
	s := &server{stderr: &testsvc.LogBuffer{}, cancel: cancel, done: make(chan error, 1)}
	go func() {
		s.done <- cli.Run(ctx, []string{"shop-api", command}, testsvc.Getenv(env), strings.NewReader(""), io.Discard, s.stderr)
	}()
	t.Cleanup(cancel)

	deadline := time.After(15 * time.Second)
	for {
		if m := pattern.FindStringSubmatch(s.stderr.String()); m != nil {
			s.addr = m[1]
			return s
		}
		select {
		case err := <-s.done:
			t.Fatalf("%s exited before listening: %v\n%s", command, err, s.stderr)
		case <-deadline:
			t.Fatalf("%s did not listen within 15s:\n%s", command, s.stderr)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stop cancels the command's context (as SIGTERM does) and requires a clean exit.
func (s *server) stop(t *testing.T) {
	t.Helper()
	s.cancel()
	select {
	case err := <-s.done:
		require.NoError(t, err, "clean shutdown")
	case <-time.After(10 * time.Second):
		t.Fatalf("no shutdown within 10s:\n%s", s.stderr)
	}
}

// get fetches url and returns the status and body.
func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, http.NoBody)
	require.NoError(t, err)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer func() { require.NoError(t, res.Body.Close()) }()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, body
}

var jobID = regexp.MustCompile(`as job (\S+)`)

// TestWorkerAndJobsCommands follows an email job through an SMTP outage:
// it fails, `jobs list` shows it, `jobs retry` brings it back once the
// mail server is up, and `jobs cancel` stops another one.
func TestWorkerAndJobsCommands(t *testing.T) {
	t.Parallel()
	env := liveEnv(t)
	env["SMTP_URL"] = "smtp://" + testsvc.ClosedAddr(t)
	env["WORKER_METRICS_ADDR"] = "127.0.0.1:0"
	env["WORKER_CONCURRENCY"] = "email=1,default=1"
	_, _, err := run(t, env, "migrate")
	require.NoError(t, err)

	stdout, _, err := run(t, env, "mail", "test", "ada@example.com")
	require.NoError(t, err)
	m := jobID.FindStringSubmatch(stdout)
	require.NotNil(t, m, stdout)
	id := m[1]
	stdout, _, err = run(t, env, "jobs", "list", "-state", "pending", "-kind", "mail.send", "-tenant", "control-plane")
	require.NoError(t, err)
	require.Contains(t, stdout, id, "due, waiting for a worker")
	stdout, _, err = run(t, env, "jobs", "list", "-state", "pending", "-queue", "default")
	require.NoError(t, err)
	require.NotContains(t, stdout, id, "mail goes through the email queue")

	worker := start(t, env, "worker")
	require.Eventually(t, func() bool {
		list, _, listErr := run(t, env, "jobs", "list", "-state", "failed")
		require.NoError(t, listErr)
		return strings.Contains(list, id)
	}, 20*time.Second, 100*time.Millisecond, "the job failed while the mail server is down")
	stdout, _, err = run(t, env, "jobs", "list", "-state", "failed")
	require.NoError(t, err)
	require.Regexp(t, `ID\s+KIND\s+QUEUE\s+TENANT\s+ATTEMPT\s+AT\s+LAST ERROR`, stdout)
	require.Regexp(t, id+`\s+mail\.send\s+email\s+control-plane\s+\d+/8\s+\S+\s+mail: connect`, stdout)
	worker.stop(t)
	require.Contains(t, worker.stderr.String(), `"msg":"worker stopped"`)
	require.Contains(t, worker.stderr.String(), `"msg":"job started"`, "the worker logs each job's start")
	require.Regexp(t, `"msg":"job failed; will retry".*"outcome":"retry","duration_ms":`, worker.stderr.String(), "and its end")

	stdout, _, err = run(t, env, "jobs", "retry", id)
	require.NoError(t, err)
	require.Equal(t, id+": retried\n", stdout)

	smtp := testsvc.NewSMTPServer(t)
	env["SMTP_URL"] = smtp.URL()
	worker = start(t, env, "worker")
	require.Eventually(t, func() bool { return len(smtp.Mail()) == 1 }, 20*time.Second, 50*time.Millisecond, "the retried job sends the mail")
	require.Equal(t, []string{"ada@example.com"}, smtp.Mail()[0].To)
	require.Contains(t, smtp.Mail()[0].Data, "shop-api test email")
	require.Eventually(t, func() bool {
		_, body := get(t, "http://"+worker.addr+"/metrics")
		return strings.Contains(string(body), `jobs_processed_total{kind="mail.send",queue="email"} 1`)
	}, 5*time.Second, 50*time.Millisecond, "the worker's /metrics counts it")
	env["WORKER_METRICS_ADDR"] = worker.addr
	stdout, _, err = run(t, env, "healthcheck", "worker")
	require.NoError(t, err, "the container health check of the worker")
	require.Equal(t, "ok\n", stdout)
	worker.stop(t)

	stdout, _, err = run(t, env, "mail", "test", "bob@example.com")
	require.NoError(t, err)
	cancelled := jobID.FindStringSubmatch(stdout)[1]
	stdout, _, err = run(t, env, "jobs", "cancel", cancelled)
	require.NoError(t, err)
	require.Equal(t, cancelled+": cancelled\n", stdout)
	_, _, err = run(t, env, "jobs", "cancel", cancelled)
	require.Error(t, err, "a cancelled job cannot be cancelled again")
	require.Equal(t, 1, cli.ExitCode(err))

	stdout, _, err = run(t, env, "jobs", "list", "-state", "discarded")
	require.NoError(t, err)
	require.NotContains(t, stdout, id)
}

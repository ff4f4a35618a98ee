package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"example.com/acme/internal/cli"
	"example.com/acme/internal/postgres"
)

func TestTenantCommands(t *testing.T) {
	t.Parallel()
	env := liveEnv(t)
	_, _, err := run(t, env, "migrate")
	require.NoError(t, err)

	stdout, _, err := run(t, env, "tenant", "create", "--slug", "acme", "--name", "Acme, Inc.")
	require.NoError(t, err)
	require.Regexp(t, `^created tenant acme \([0-9a-f-]{36}\)\n$`, stdout)

	for slug, message := range map[string]string{
		"acme":                      `slug "acme" is taken`,
		"www":                       "reserved",
		`acme"; DROP TABLE tenants`: "lowercase letters",
		"ab":                        "3 to 40 characters",
	} {
		_, _, err = run(t, env, "tenant", "create", "--slug", slug, "--name", "Bad")
		require.Equal(t, 1, cli.ExitCode(err), "%q: %v", slug, err)
		require.ErrorContains(t, err, message)
	}

	_, _, err = run(t, env, "tenant", "create", "--slug", "globex", "--name", "Globex")
	require.NoError(t, err)
	stdout, _, err = run(t, env, "tenant", "list")
	require.NoError(t, err)
	require.Regexp(t, `(?s)^SLUG\s+NAME\s+ID\s+CREATED\s+STATE\nacme\s+Acme, Inc\.\s+[0-9a-f-]{36}\s+\d{4}-.*\nglobex\s+Globex\s`, stdout)

	stdout, stderr, err := run(t, env, "tenant", "migrate", "--concurrency", "2")
	require.NoError(t, err)
	require.Contains(t, stdout, "0 migrations applied, 0 failed")
	require.Contains(t, stderr, "tenant migrate: ")

	stdout, _, err = run(t, env, "tenant", "migrate", "--check")
	require.NoError(t, err)
	require.Contains(t, stdout, "tenant migrations: 0 of")

	// Suspended, acme is listed as such and its slug stays taken; resumed,
	// it is active again.
	stdout, _, err = run(t, env, "tenant", "suspend", "--slug", "acme")
	require.NoError(t, err)
	require.Regexp(t, `^suspended tenant acme \([0-9a-f-]{36}\)\n$`, stdout)
	stdout, _, err = run(t, env, "tenant", "list")
	require.NoError(t, err)
	require.Regexp(t, `(?m)^acme .* suspended$`, stdout)
	require.Regexp(t, `(?m)^globex .* active$`, stdout)
	_, _, err = run(t, env, "tenant", "create", "--slug", "acme", "--name", "Acme again")
	require.ErrorContains(t, err, `slug "acme" is taken`)
	stdout, _, err = run(t, env, "tenant", "resume", "--slug", "acme")
	require.NoError(t, err)
	require.Regexp(t, `^resumed tenant acme \([0-9a-f-]{36}\)\n$`, stdout)
	stdout, _, err = run(t, env, "tenant", "list")
	require.NoError(t, err)
	require.Regexp(t, `(?m)^acme .* active$`, stdout)
	for _, action := range []string{"suspend", "resume"} {
		_, _, err = run(t, env, "tenant", action, "--slug", "nobody")
		require.Equal(t, 1, cli.ExitCode(err), "%s: %v", action, err)
		require.ErrorContains(t, err, `no tenant "nobody"`)
		_, stderr, err = run(t, env, "tenant", action)
		require.Equal(t, 2, cli.ExitCode(err), "%s without --slug: %v", action, err)
		require.Contains(t, stderr, "Usage: acme tenant "+action)
	}

	stdout, _, err = run(t, env, "tenant", "migrate", "--slug", "acme")
	require.NoError(t, err)
	require.Contains(t, stdout, "tenant migrations: 1 visited")
	_, _, err = run(t, env, "tenant", "migrate", "--slug", "nobody")
	require.ErrorContains(t, err, `no tenant "nobody"`)
	// --limit visits only tenants still behind: none yet.
	stdout, _, err = run(t, env, "tenant", "migrate", "--limit", "1")
	require.NoError(t, err)
	require.Contains(t, stdout, "tenant migrations: 0 visited")
	_, _, err = run(t, env, "tenant", "migrate", "--limit", "-1")
	require.Equal(t, 2, cli.ExitCode(err))

	// Make the tenant tables look unmigrated: --check fails and names them,
	// and migrating fails (the tables exist) and says so.
	forgetTenantMigrations(t, env)
	stdout, _, err = run(t, env, "tenant", "migrate", "--check")
	require.Equal(t, 1, cli.ExitCode(err))
	require.ErrorContains(t, err, "behind the latest tenant migration")
	require.Contains(t, stdout, "BEHIND  ")
	stdout, _, err = run(t, env, "tenant", "migrate")
	require.Equal(t, 1, cli.ExitCode(err))
	require.Contains(t, stdout, "FAILED  ")
	require.Contains(t, stdout, `relation "projects" already exists`)
	// A chunk of the tenants still behind is acme alone: globex is current.
	stdout, _, err = run(t, env, "tenant", "migrate", "--limit", "5")
	require.Equal(t, 1, cli.ExitCode(err))
	require.Contains(t, stdout, "FAILED  acme (")
	require.Contains(t, stdout, "tenant migrations: 1 visited, 0 migrations applied, 1 failed")
}

// tenant rename changes the display name; tenant delete needs the slug
// twice, deletes the tenant with its data and frees its slug.
func TestTenantRenameAndDelete(t *testing.T) {
	t.Parallel()
	env := liveEnv(t)
	_, _, err := run(t, env, "migrate")
	require.NoError(t, err)
	_, _, err = run(t, env, "tenant", "create", "--slug", "acme", "--name", "Acme")
	require.NoError(t, err)

	stdout, _, err := run(t, env, "tenant", "rename", "--slug", "acme", "--name", "Acme Corporation")
	require.NoError(t, err)
	require.Regexp(t, `^renamed tenant acme \([0-9a-f-]{36}\) to "Acme Corporation"\n$`, stdout)
	stdout, _, err = run(t, env, "tenant", "list")
	require.NoError(t, err)
	require.Regexp(t, `(?m)^acme\s+Acme Corporation\s`, stdout)
	_, stderr, err := run(t, env, "tenant", "rename", "--slug", "acme")
	require.Equal(t, 2, cli.ExitCode(err))
	require.ErrorContains(t, err, "--slug and --name are required")
	require.Contains(t, stderr, "Usage: acme tenant rename")

	for _, confirm := range []string{"", "globex"} {
		_, _, err = run(t, env, "tenant", "delete", "--slug", "acme", "--confirm", confirm)
		require.Equal(t, 2, cli.ExitCode(err), "--confirm %q: %v", confirm, err)
		require.ErrorContains(t, err, "--confirm must repeat the slug")
	}
	stdout, _, err = run(t, env, "tenant", "list")
	require.NoError(t, err)
	require.Contains(t, stdout, "acme", "a refused deletion deletes nothing")

	stdout, _, err = run(t, env, "tenant", "delete", "--slug", "acme", "--confirm", "acme")
	require.NoError(t, err)
	require.Regexp(t, `^deleted tenant acme \([0-9a-f-]{36}\) and all of its data\n$`, stdout)
	stdout, _, err = run(t, env, "tenant", "list")
	require.NoError(t, err)
	require.NotContains(t, stdout, "acme")
	_, _, err = run(t, env, "tenant", "delete", "--slug", "acme", "--confirm", "acme")
	require.Equal(t, 1, cli.ExitCode(err))
	require.ErrorContains(t, err, `no tenant "acme"`)
	_, _, err = run(t, env, "tenant", "create", "--slug", "acme", "--name", "Acme again")
	require.NoError(t, err, "the slug is free again")
}

// forgetTenantMigrations deletes the record of the tenant migrations
// applied to tenant acme.
func forgetTenantMigrations(t *testing.T, env map[string]string) {
	t.Helper()
	databaseURL, table := env["MIGRATE_DATABASE_URL"], pgx.Identifier{"t_acme", "goose_db_version"}
	conn, err := pgx.Connect(t.Context(), databaseURL)
	require.NoError(t, err)
	defer func() { require.NoError(t, conn.Close(context.WithoutCancel(t.Context()))) }()
	_, err = conn.Exec(t.Context(), "DELETE FROM "+table.Sanitize()+" WHERE version_id > 0")
	require.NoError(t, err)
}

// The served API creates a tenant (provisioning it) and keeps its data to
// itself, with the connection roles of production.
func TestServeTenantsEndToEnd(t *testing.T) {
	t.Parallel()
	env := liveEnv(t)
	_, _, err := run(t, env, "migrate")
	require.NoError(t, err)
	srv := start(t, env, "serve")
	base := "http://" + srv.addr

	status, body := send(t, http.MethodPost, base+"/v1/auth/signup", "", "", `{"email":"ada@example.com","password":"correct horse battery staple","name":"Ada"}`)
	require.Equal(t, http.StatusCreated, status, string(body))
	status, body = send(t, http.MethodPost, base+"/v1/auth/login", "", "", `{"email":"ada@example.com","password":"correct horse battery staple"}`)
	require.Equal(t, http.StatusOK, status, string(body))
	var login struct {
		Token string `json:"token"`
	}
	require.NoError(t, json.Unmarshal(body, &login))
	token := login.Token

	// The server caches acme no earlier than this.
	cachedAfter := time.Now()
	for _, slug := range []string{"acme", "globex"} {
		status, body = send(t, http.MethodPost, base+"/v1/tenants", token, "", `{"slug":"`+slug+`","name":"`+slug+`"}`)
		require.Equal(t, http.StatusCreated, status, string(body))
		status, body = send(t, http.MethodPost, base+"/v1/projects", token, slug, `{"name":"`+slug+`'s project"}`)
		require.Equal(t, http.StatusCreated, status, string(body))
	}
	status, body = send(t, http.MethodGet, base+"/v1/projects", token, "acme", "")
	require.Equal(t, http.StatusOK, status, string(body))
	var page struct {
		Items []struct {
			Name string `json:"name"`
		} `json:"items"`
	}
	require.NoError(t, json.Unmarshal(body, &page))
	require.Len(t, page.Items, 1)
	require.Equal(t, "acme's project", page.Items[0].Name)

	status, _ = send(t, http.MethodGet, base+"/v1/projects", token, "initech", "")
	require.Equal(t, http.StatusNotFound, status)

	// Suspended by another process (the CLI) while acme is in the server's
	// cache, acme stops being served well within the cache's TTL; resumed,
	// it is served again.
	require.Less(t, 3*time.Second, postgres.DefaultResolveTTL)
	_, _, err = run(t, env, "tenant", "suspend", "--slug", "acme")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		got, _ := send(t, http.MethodGet, base+"/v1/projects", token, "acme", "")
		return got == http.StatusNotFound
	}, 3*time.Second, 20*time.Millisecond, "the server hears of the suspension")
	require.Less(t, time.Since(cachedAfter), postgres.DefaultResolveTTL,
		"heard before acme's cache entry could have expired: the notification, not the TTL, did it")
	status, _ = send(t, http.MethodGet, base+"/v1/projects", token, "globex", "")
	require.Equal(t, http.StatusOK, status)
	_, _, err = run(t, env, "tenant", "resume", "--slug", "acme")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		got, _ := send(t, http.MethodGet, base+"/v1/projects", token, "acme", "")
		return got == http.StatusOK
	}, 3*time.Second, 20*time.Millisecond)
	status, _ = send(t, http.MethodGet, base+"/v1/projects", "", "acme", "")
	require.Equal(t, http.StatusUnauthorized, status)
	srv.stop(t)
	require.Contains(t, srv.stderr.String(), `"tenant":"acme"`, "request logs name the tenant")
	require.Contains(t, srv.stderr.String(), `"user_id":"`, "and the user")
	require.NotContains(t, srv.stderr.String(), token, "never the token")
}

// send makes a request with an optional bearer token, X-Tenant header and
// JSON body.
func send(t *testing.T, method, target, token, tenant, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, target, bytes.NewBufferString(body))
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if tenant != "" {
		req.Header.Set("X-Tenant", tenant)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer func() { require.NoError(t, res.Body.Close()) }()
	out, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, out
}

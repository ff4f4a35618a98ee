package cli_test

import (
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/acme/shop-api/internal/cli"
)

func TestUserCreate(t *testing.T) {
	t.Parallel()
	env := liveEnv(t)
	_, _, err := run(t, env, "migrate")
	require.NoError(t, err)

	const pw = "correct horse battery staple"
	stdout, stderr, err := runWithInput(t, env, pw+"\n", "user", "create", "--email", "Root@Example.com", "--password-stdin", "--superuser")
	require.NoError(t, err, stderr)
	require.Contains(t, stdout, "created superuser root@example.com")
	require.NotContains(t, stdout+stderr, pw)

	_, _, err = runWithInput(t, env, pw+"\n", "user", "create", "--email", "root@example.com", "--password-stdin")
	require.ErrorContains(t, err, "exists")
	_, _, err = runWithInput(t, env, "short\n", "user", "create", "--email", "other@example.com", "--password-stdin")
	require.ErrorContains(t, err, "at least 8 characters")
	_, _, err = runWithInput(t, env, "", "user", "create", "--email", "other@example.com", "--password-stdin")
	require.ErrorContains(t, err, "no password")

	conn, err := pgx.Connect(t.Context(), env["DATABASE_URL"])
	require.NoError(t, err)
	defer func() { _ = conn.Close(t.Context()) }()
	var name, hash string
	var superuser bool
	require.NoError(t, conn.QueryRow(t.Context(), `SELECT name, password_hash, superuser FROM users WHERE email = 'root@example.com'`).Scan(&name, &hash, &superuser))
	require.Equal(t, "Root", name, "the name defaults to the email's local part, as given")
	require.True(t, superuser)
	require.Regexp(t, `^\$argon2id\$v=19\$m=19456,t=2,p=1\$`, hash)
}

// tenant create --owner makes an existing user the new tenant's owner, and
// refuses, creating nothing, when no user has that email.
func TestTenantCreateWithOwner(t *testing.T) {
	t.Parallel()
	env := liveEnv(t)
	_, _, err := run(t, env, "migrate")
	require.NoError(t, err)
	_, stderr, err := runWithInput(t, env, "correct horse battery staple\n", "user", "create", "--email", "ada@example.com", "--password-stdin")
	require.NoError(t, err, stderr)

	_, _, err = run(t, env, "tenant", "create", "--slug", "acme", "--name", "Acme", "--owner", "nobody@example.com")
	require.Equal(t, 1, cli.ExitCode(err), "%v", err)
	require.ErrorContains(t, err, "no user with email nobody@example.com")
	require.ErrorContains(t, err, "user create")

	stdout, _, err := run(t, env, "tenant", "create", "--slug", "acme", "--name", "Acme", "--owner", "Ada@Example.com")
	require.NoError(t, err, "the refused attempt left the slug free")
	require.Regexp(t, `^created tenant acme \([0-9a-f-]{36}\), owned by Ada@Example.com\n$`, stdout)

	conn, err := pgx.Connect(t.Context(), env["DATABASE_URL"])
	require.NoError(t, err)
	defer func() { _ = conn.Close(t.Context()) }()
	var email, role string
	require.NoError(t, conn.QueryRow(t.Context(), `SELECT u.email, m.role FROM memberships m
		JOIN users u ON u.id = m.user_id JOIN tenants t ON t.id = m.tenant_id WHERE t.slug = 'acme'`).Scan(&email, &role))
	require.Equal(t, "ada@example.com", email)
	require.Equal(t, "owner", role)
}

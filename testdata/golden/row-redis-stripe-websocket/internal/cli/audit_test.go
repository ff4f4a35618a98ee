package cli_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/acme/shop-api/internal/cli"
)

// audit verify passes an intact log and reports the first broken link of
// a tampered one, exiting 1; audit export writes the entries as JSON lines.
func TestAuditCommands(t *testing.T) {
	t.Parallel()
	env := liveEnv(t)
	_, _, err := run(t, env, "migrate")
	require.NoError(t, err)
	for _, args := range [][]string{
		{"tenant", "create", "--slug", "acme", "--name", "Acme"},
		{"tenant", "suspend", "--slug", "acme"},
		{"tenant", "resume", "--slug", "acme"},
	} {
		_, _, err = run(t, env, args...)
		require.NoError(t, err, args)
	}

	stdout, _, err := run(t, env, "audit", "verify")
	require.NoError(t, err, stdout)
	require.Contains(t, stdout, "ok      acme control: 3 entries, head 3\n")
	require.Contains(t, stdout, "ok      acme tenant: 0 entries, head 0\n")

	stdout, _, err = run(t, env, "audit", "export", "--tenant", "acme")
	require.NoError(t, err)
	var actions []string
	for line := range strings.Lines(stdout) {
		var entry struct {
			Action string `json:"action"`
			Seq    int64  `json:"seq"`
		}
		require.NoError(t, json.Unmarshal([]byte(line), &entry), line)
		actions = append(actions, entry.Action)
	}
	require.Equal(t, []string{"tenant.create", "tenant.suspend", "tenant.resume"}, actions)
	stdout, _, err = run(t, env, "audit", "export", "--tenant", "acme", "--since", "2999-01-01T00:00:00Z")
	require.NoError(t, err)
	require.Empty(t, stdout)

	stdout, _, err = run(t, env, "audit", "prune")
	require.NoError(t, err)
	require.Contains(t, stdout, "kept forever")
	stdout, _, err = run(t, env, "audit", "prune", "--older-than", "1000h")
	require.NoError(t, err)
	require.Contains(t, stdout, "pruned 0 audit entries")
	stdout, _, err = run(t, env, "audit", "prune", "--tenant", "acme", "--older-than", "1ns")
	require.NoError(t, err)
	require.Contains(t, stdout, "pruned 3 audit entries")
	stdout, _, err = run(t, env, "audit", "verify", "--tenant", "acme")
	require.NoError(t, err, stdout)
	require.Contains(t, stdout, "ok      acme control: 0 entries, head 3\n")
	_, _, err = run(t, env, "tenant", "suspend", "--slug", "acme")
	require.NoError(t, err)

	owner := env["MIGRATE_DATABASE_URL"]
	if owner == "" {
		owner = env["DATABASE_URL"]
	}
	conn, err := pgx.Connect(t.Context(), owner)
	require.NoError(t, err)
	defer func() { require.NoError(t, conn.Close(t.Context())) }()
	err = pgx.BeginFunc(t.Context(), conn, func(tx pgx.Tx) error {
		_, execErr := tx.Exec(t.Context(), `SET LOCAL session_replication_role = replica;
			UPDATE control_audit_entries SET action = 'tenant.delete' WHERE seq = 4`)
		return execErr
	})
	require.NoError(t, err)
	stdout, _, err = run(t, env, "audit", "verify", "--tenant", "acme")
	require.Equal(t, 1, cli.ExitCode(err), "%v", err)
	require.Contains(t, stdout, "BROKEN  acme control: at entry 4: entry 4 was altered")
}

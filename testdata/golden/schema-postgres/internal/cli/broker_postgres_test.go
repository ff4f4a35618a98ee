package cli_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// brokerChecks are the broker's readiness checks besides the database's:
// none, River's broker is the database.
var brokerChecks = map[string]string{}

// requireQueueMigrated checks what `migrate up` said about River's schema,
// on the first run (first) or a later one.
func requireQueueMigrated(t *testing.T, stdout string, first bool) {
	t.Helper()
	if first {
		require.Regexp(t, `job queue \(River\) schema: [1-9][0-9]* migrations applied now`, stdout)
		return
	}
	require.Contains(t, stdout, "job queue (River) schema: 0 migrations applied now")
}

// watchJobs returns a check, run once the test has queued its mail, that
// the jobs that carried it (kept by River once done) hold it sealed:
// neither the token nor the address is readable, in the arguments or in
// their base64-encoded box.
func watchJobs(t *testing.T, env map[string]string) func(t *testing.T, secrets ...string) {
	t.Helper()
	return func(t *testing.T, secrets ...string) {
		t.Helper()
		conn, err := pgx.Connect(t.Context(), env["DATABASE_URL"])
		require.NoError(t, err)
		defer func() { require.NoError(t, conn.Close(context.WithoutCancel(t.Context()))) }()
		rows, err := conn.Query(t.Context(), `SELECT args::text FROM river.river_job WHERE kind = 'mail.send'`)
		require.NoError(t, err)
		stored, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		require.Len(t, stored, 3, "the test email, the verification link and the invitation")
		for _, args := range stored {
			require.Equal(t, 1, requireSealed(t, args, secrets...), "one sealed box: %s", args)
		}
	}
}

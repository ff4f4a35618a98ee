package cli_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// watchJobs watches, from now on, the two places queued mail passes
// through: the job_outbox table, then the broker (the relay empties the
// one and the worker the other). It returns a check, run once the test has
// queued its mail, that both held it sealed.
func watchJobs(t *testing.T, env map[string]string) func(t *testing.T, secrets ...string) {
	t.Helper()
	outbox := captureOutbox(t, ownerURL(env))
	broker := watchBroker(t, env["JOBS_NAMESPACE"])
	return func(t *testing.T, secrets ...string) {
		t.Helper()
		stored := outbox()
		require.Len(t, stored, 3, "the test email, the verification link and the invitation went through the outbox")
		for _, payload := range stored {
			require.Equal(t, 1, requireSealed(t, payload, secrets...), "one sealed box: %s", payload)
		}
		// The watcher records asynchronously: wait until both emails' boxes
		// (two distinct ones; one email may show in several commands) are seen.
		var published []string
		require.Eventually(t, func() bool {
			published = broker()
			distinct := map[string]bool{}
			for _, seen := range published {
				for _, box := range sealedBox.FindAllStringSubmatch(seen, -1) {
					distinct[box[1]] = true
				}
			}
			return len(distinct) >= 2
		}, 10*time.Second, 20*time.Millisecond, "both emails reached the broker, sealed")
		for _, seen := range published {
			requireSealed(t, seen, secrets...)
		}
	}
}

// ownerURL is the connection of the role that owns the tables.
func ownerURL(env map[string]string) string {
	if u := env["MIGRATE_DATABASE_URL"]; u != "" {
		return u
	}
	return env["DATABASE_URL"]
}

// captureOutbox copies every row written to job_outbox, as it is written,
// into a table the relay does not empty, and returns a function listing
// the payloads of the email queue's (a periodic job firing meanwhile is
// not the test's).
func captureOutbox(t *testing.T, ownerURL string) func() []string {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), ownerURL)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.WithoutCancel(t.Context())) })
	_, err = conn.Exec(t.Context(), `
CREATE TABLE outbox_seen (payload text NOT NULL);
CREATE FUNCTION outbox_seen() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    INSERT INTO outbox_seen (payload) VALUES (NEW.payload::text);
    RETURN NULL;
END;
$$;
CREATE TRIGGER outbox_seen AFTER INSERT ON job_outbox FOR EACH ROW EXECUTE FUNCTION outbox_seen();`)
	require.NoError(t, err)
	return func() []string {
		rows, err := conn.Query(t.Context(), `SELECT payload FROM outbox_seen WHERE payload::jsonb ->> 'queue' = 'email'`)
		require.NoError(t, err)
		payloads, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		return payloads
	}
}

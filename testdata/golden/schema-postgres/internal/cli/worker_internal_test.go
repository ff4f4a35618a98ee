package cli

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"example.com/acme/internal/config"
)

// The worker schedules the audit log's pruning only when a retention is
// set: by default the log is kept forever and no job runs for it.
func TestPeriodicJobsPruneTheAuditLogOnlyWithARetention(t *testing.T) {
	t.Parallel()
	names := func(cfg config.Config) []string {
		periodic := periodicJobs(cfg)
		got := make([]string, 0, len(periodic))
		for _, p := range periodic {
			got = append(got, p.Name)
		}
		return got
	}
	always := []string{"jobs.prune"}
	require.Equal(t, always, names(config.Config{}))
	require.Equal(t, slices.Concat(always, []string{"audit.prune"}), names(config.Config{AuditRetention: 365 * 24 * time.Hour}))
}

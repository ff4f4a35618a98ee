package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/acme/shop-api/internal/postgres"
)

// verifyBenchEntries is how long the chain BenchmarkAuditVerify verifies.
const verifyBenchEntries = 1_000_000

// BenchmarkAuditVerify verifies one tenant's audit log of a million
// entries (seeded in one COPY, chained by the log's own hashing, before
// the clock starts): what `audit verify --tenant SLUG` does. The target is
// 10 s per op.
//
//	go test ./internal/postgres -run '^$' -bench BenchmarkAuditVerify -benchtime 3x -timeout 30m
func BenchmarkAuditVerify(b *testing.B) {
	bundle, log := setupAudit(b)
	tn, err := bundle.tenants.Create(b.Context(), "verify-bench", "Verify bench")
	require.NoError(b, err)
	var head int64
	var hash []byte
	require.NoError(b, asOwner(b, bundle, tn, func(ctx context.Context, tx pgx.Tx) error {
		head, hash, err = postgres.SeedAuditLog(ctx, tx, tn.ID, verifyBenchEntries)
		return err
	}))
	_, err = postgres.ControlPool(bundle.tenants).Exec(b.Context(),
		`INSERT INTO audit_heads (tenant_id, seq, hash) VALUES ($1, $2, $3)`, tn.ID, head, hash)
	require.NoError(b, err)
	for b.Loop() {
		reports, err := log.Verify(b.Context(), tn)
		require.NoError(b, err)
		require.True(b, reports[0].OK(), reports[0].Problem)
		require.Equal(b, int64(verifyBenchEntries), reports[0].Entries)
	}
	b.ReportMetric(float64(verifyBenchEntries), "entries/op")
}

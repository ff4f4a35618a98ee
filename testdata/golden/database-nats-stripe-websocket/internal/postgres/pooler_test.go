package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/require"

	"ledger.internal/svc/internal/domain"
	"ledger.internal/svc/internal/postgres"
	"ledger.internal/svc/internal/postgres/tenantdb"
	"ledger.internal/svc/internal/testsvc"
)

// Behind PgBouncer in transaction mode (TEST_PGBOUNCER_ADDR): DATABASE_URL
// goes through it with default_query_exec_mode=exec, DATABASE_SESSION_URL
// straight to Postgres. Tenants are created, migrated, served and deleted;
// work in two tenants at once, interleaved on the pooler's server
// connections, never sees the other tenant's rows.
func TestBehindATransactionPooler(t *testing.T) {
	t.Parallel()
	cfg := testsvc.NewTenancyConfig(t)
	migrateControlPlane(t, cfg)
	cfg.SessionURL = cfg.URL
	cfg.URL = testsvc.ThroughPooler(t, cfg.URL)
	b := &tenantsBundle{cfg: cfg, tenants: openTenants(t, cfg, postgres.TenantsOptions{})}
	report, err := b.tenants.MigrateTenants(t.Context(), postgres.MigrateOptions{})
	require.NoError(t, err)
	require.Empty(t, report.Failed())
	acme, globex := b.create(t, "acme"), b.create(t, "globex")

	const workers, rounds = 8, 20
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		tn := []domain.Tenant{acme, globex}[w%2]
		wg.Go(func() {
			for i := range rounds {
				if werr := writeAndReadOwn(t.Context(), b.tenants, tn, fmt.Sprintf("%s-%d-%d", tn.Slug, w, i)); werr != nil {
					errs <- werr
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for werr := range errs {
		require.NoError(t, werr)
	}
	for _, tn := range []domain.Tenant{acme, globex} {
		all := listAll(t, b.tenants, tn)
		require.Len(t, all, workers/2*rounds, tn.Slug)
		for _, p := range all {
			require.True(t, strings.HasPrefix(p.Name, tn.Slug+"-"), "%s sees %s", tn.Slug, p.Name)
		}
	}

	report, err = b.tenants.MigrateTenants(t.Context(), postgres.MigrateOptions{})
	require.NoError(t, err)
	require.Empty(t, report.Failed())
	_, err = b.tenants.Delete(t.Context(), "globex")
	require.NoError(t, err)
	_, err = b.tenants.Resolve(t.Context(), "globex")
	require.Equal(t, domain.ENOTFOUND, domain.ErrorCode(err))
	b.create(t, "globex")
}

// writeAndReadOwn creates a project named name in tn and checks, in the
// same transaction, that every project it sees is tn's.
func writeAndReadOwn(ctx context.Context, ts *postgres.Tenants, tn domain.Tenant, name string) error {
	return ts.InTenantTx(ctx, tn, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tenantdb.New(tx).CreateProject(ctx, pgtype.Text{String: name, Valid: true}); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT name FROM projects`)
		if err != nil {
			return err
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, n := range names {
			if !strings.HasPrefix(n, tn.Slug+"-") {
				return errors.New(tn.Slug + " sees " + n)
			}
		}
		return nil
	})
}

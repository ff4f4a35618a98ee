package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"example.com/acme/internal/domain"
)

// Prepared tenant statements. The pool runs in exec mode (see
// configureTenantPool), so a statement sent by its text is parsed and
// planned on every run. A tenant read (ReadTenant) instead runs a
// statement prepared on its connection for that tenant's schema: prepared
// while the schema is the search_path (in a transaction entered into the
// tenant, so nothing outlives it but the statement), and named after the
// schema and the text, so no other schema's statement is ever confused
// with it. Postgres checks a prepared statement's search_path on each run
// and analyzes it again when it differs, so even a misplaced name could
// not reach another schema's tables; the tenant's policy and seal stand
// behind that as they do for every statement.
//
// A migration that changes what a prepared statement returns (a column's
// type) makes Postgres refuse its next run ("cached plan must not change
// result type"); the read forgets the statement and runs again,
// unprepared (oneQuery.again), and the next one prepares it afresh.
//
// Each prepared statement costs its connection's backend memory (~20 KB
// for a list, beside the ~25 KB of catalog caches any statement in a
// schema costs), so a connection keeps at most maxTenantStatements,
// deallocating the least recently used to prepare another. While it is
// full, a statement is prepared only when it misses again soon: within
// the next maxTenantStatements/8 statements that miss on that connection.
// With more tenants in use than it holds, most reads run unprepared, as
// before, instead of preparing what is dropped again before its next run:
// preparing costs four round trips, which a statement repays only if it
// runs a few more times while it stays. A tenant in steady use misses
// again soon; one of thousands, each as likely as the next, rarely does.

// maxTenantStatements is how many tenant statements a connection keeps
// prepared, unless tests choose another number (tenantStorage.maxStatements).
const maxTenantStatements = 1000

// tenantStatementsKey is where a connection keeps its tenantStatements
// (pgconn.PgConn.CustomData).
const tenantStatementsKey = "postgres.tenantStatements"

// tenantStatements are the tenant statements prepared on one connection.
// Only the goroutine that holds the connection uses them.
type tenantStatements struct {
	max      int
	prepared *simplelru.LRU[string, struct{}]
	// missed are the last statements run unprepared while prepared was
	// full (max/8 of them): the next miss of one of them prepares it.
	missed *simplelru.LRU[string, struct{}]
	// dropped are statements forgotten but still prepared in the
	// backend, deallocated before the next one is prepared.
	dropped []string
}

// tenantStatementsOf returns conn's tenantStatements, made on first use
// to hold at most maxStatements.
func tenantStatementsOf(conn *pgx.Conn, maxStatements int) *tenantStatements {
	data := conn.PgConn().CustomData()
	if ts, ok := data[tenantStatementsKey].(*tenantStatements); ok {
		return ts
	}
	ts := &tenantStatements{max: max(maxStatements, 1)}
	// NewLRU fails only for a size below one. prepared never evicts on
	// its own: prepare makes room first, so the backend never holds more.
	ts.prepared, _ = simplelru.NewLRU(ts.max+1, func(name string, _ struct{}) {
		ts.dropped = append(ts.dropped, name)
	})
	ts.missed, _ = simplelru.NewLRU[string, struct{}](max(ts.max/8, 1), nil)
	data[tenantStatementsKey] = ts
	return ts
}

// schemaStatements name t's statements on a connection (oneQuery's
// statementNamer).
type schemaStatements struct {
	s *tenantStorage
	t domain.Tenant
}

// statementName names sql prepared in schema: at most 63 bytes, the
// longest name Postgres keeps whole.
func statementName(schema, sql string) string {
	sum := sha256.Sum256([]byte(schema + "\x00" + sql))
	return "tenant_" + hex.EncodeToString(sum[:20])
}

// prepareEntering prepares enterStatement on conn, once, by its text (a
// batch finds it so): it runs on the default search_path, before the
// tenant's, and is the same for every tenant. Unprepared, it runs as it
// is, so an error here is no error.
func prepareEntering(ctx context.Context, conn *pgx.Conn) {
	_, _ = conn.Prepare(ctx, enterStatement, enterStatement)
}

func (p schemaStatements) name(ctx context.Context, conn *pgx.Conn, sql string) string {
	prepareEntering(ctx, conn)
	ts := tenantStatementsOf(conn, p.s.maxStatements)
	name := statementName(schemaName(p.t.Slug), sql)
	if _, ok := ts.prepared.Get(name); ok {
		return name
	}
	if ts.prepared.Len() >= ts.max && !ts.missed.Contains(name) {
		ts.missed.Add(name, struct{}{})
		return sql
	}
	ts.missed.Remove(name)
	if err := p.prepare(ctx, conn, ts, name, sql); err != nil {
		// Unprepared, the read itself reports what is wrong (a missing
		// schema, a broken connection) as it always has.
		return sql
	}
	return name
}

// prepare prepares sql as name on conn in t's schema: in a transaction
// entered into t, which it rolls back, leaving the statement. It first
// makes room, deallocating the least recently used when conn holds its
// most, and what was dropped.
func (p schemaStatements) prepare(ctx context.Context, conn *pgx.Conn, ts *tenantStatements, name, sql string) error {
	if ts.prepared.Len() >= ts.max {
		ts.prepared.RemoveOldest()
	}
	dropped := ts.dropped
	ts.dropped = nil
	for _, old := range dropped {
		if err := conn.Deallocate(ctx, old); err != nil {
			return err
		}
	}
	tx, err := beginEntered(p.t, enterStatement, p.s.enterArgs(p.t)...)(ctx, conn)
	if err != nil {
		return err
	}
	_, err = conn.Prepare(ctx, name, sql)
	if rollbackErr := tx.Rollback(context.WithoutCancel(ctx)); err == nil {
		err = rollbackErr
	}
	if err != nil {
		return err
	}
	ts.prepared.Add(name, struct{}{})
	return nil
}

func (p schemaStatements) stale(conn *pgx.Conn, name string, err error) bool {
	pgErr, ok := errors.AsType[*pgconn.PgError](err)
	if !ok {
		return false
	}
	switch {
	case pgErr.Code == "0A000" && strings.Contains(pgErr.Message, "cached plan must not change result type"),
		pgErr.Code == "26000": // invalid_sql_statement_name: no longer prepared in the backend
		tenantStatementsOf(conn, p.s.maxStatements).prepared.Remove(name)
		return true
	}
	return false
}

// Package postgres is the Postgres adapter: the connection pool, the
// embedded control-plane migrations and (in package db) their sqlc queries,
// and the tenant registry with the one way into tenant data
// (Tenants.InTenant, over the queries in package tenantdb).
package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Option tunes the pool Open returns.
type Option func(*pgxpool.Config)

// MinMaxConns raises the pool's connection limit to at least n, unless
// DATABASE_URL sets pool_max_conns itself. The worker needs a connection
// per running job, on top of its own.
func MinMaxConns(n int32) Option {
	return func(cfg *pgxpool.Config) {
		cfg.MaxConns = max(cfg.MaxConns, n)
	}
}

// sqlLiteral quotes s as an SQL string literal (standard_conforming_strings,
// on by default since Postgres 9.1: only the quote is special), for the one
// statement that cannot take parameters: the BEGIN that enters a tenant.
func sqlLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// inTx runs fn in a transaction begun on one of pool's connections with
// begin, and commits it when fn returns nil, unless fn committed it
// itself: a unit sends its audit entries and the COMMIT in one round trip
// (see Unit.commit), after which the connection is idle and there is
// nothing left to commit. However fn ends (an error, a panic), a
// transaction still open is rolled back; a connection that could not
// roll back is closed, not given back to the pool.
func inTx(ctx context.Context, pool *pgxpool.Pool, begin pgx.TxOptions, fn func(pgx.Tx) error) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	tx, err := conn.BeginTx(ctx, begin)
	if err != nil {
		return err
	}
	idle := func() bool { return conn.Conn().PgConn().TxStatus() == 'I' }
	defer func() {
		if !idle() {
			rollbackCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = tx.Rollback(rollbackCtx)
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	if idle() {
		return nil
	}
	return tx.Commit(ctx)
}

// Open returns a pool for databaseURL. Connections are made lazily, so Open
// succeeds while the database is down; readiness checks report it.
func Open(ctx context.Context, databaseURL, applicationName string, opts ...Option) (*pgxpool.Pool, error) {
	return open(ctx, databaseURL, applicationName, nil, opts...)
}

// parseConnConfig parses a connection URL for a single connection the way
// the pool parses it: pgx's pool parameters (pool_max_conns and the other
// pool_* ones), which DATABASE_URL may carry for the pool, are dropped
// instead of reaching Postgres as unknown settings.
func parseConnConfig(databaseURL string) (*pgx.ConnConfig, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, err
	}
	return cfg.ConnConfig, nil
}

// open is Open with a hook that adjusts the pool's configuration.
func open(ctx context.Context, databaseURL, applicationName string, configure func(*pgxpool.Config), opts ...Option) (*pgxpool.Pool, error) {
	cfg, err := parsePoolConfig(databaseURL, applicationName, opts...)
	if err != nil {
		return nil, err
	}
	if configure != nil {
		configure(cfg)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: create pool: %w", err)
	}
	return pool, nil
}

// parsePoolConfig parses a connection URL, applies opts and names the
// connections.
func parsePoolConfig(databaseURL, applicationName string, opts ...Option) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		// The parse error may quote the URL, password included: keep it out.
		return nil, errors.New("postgres: DATABASE_URL is not a valid connection string")
	}
	if !strings.Contains(databaseURL, "pool_max_conns") {
		for _, opt := range opts {
			opt(cfg)
		}
	}
	if _, set := cfg.ConnConfig.RuntimeParams["application_name"]; !set {
		cfg.ConnConfig.RuntimeParams["application_name"] = applicationName
	}
	return cfg, nil
}

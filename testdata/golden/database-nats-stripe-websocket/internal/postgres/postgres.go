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

	"github.com/jackc/pgx/v5/pgxpool"
)

// Option tunes the pool Open returns.
type Option func(*pgxpool.Config)

// errOneQuery is what a second statement of a ReadTenant gets.
var errOneQuery = errors.New("postgres: ReadTenant runs one statement; use InTenant for more")

// errRow is a row whose query failed.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// MinMaxConns raises the pool's connection limit to at least n, unless
// DATABASE_URL sets pool_max_conns itself. The worker needs a connection
// per running job, on top of its own.
func MinMaxConns(n int32) Option {
	return func(cfg *pgxpool.Config) {
		cfg.MaxConns = max(cfg.MaxConns, n)
	}
}

// Open returns a pool for databaseURL. Connections are made lazily, so Open
// succeeds while the database is down; readiness checks report it.
func Open(ctx context.Context, databaseURL, applicationName string, opts ...Option) (*pgxpool.Pool, error) {
	return open(ctx, databaseURL, applicationName, nil, opts...)
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

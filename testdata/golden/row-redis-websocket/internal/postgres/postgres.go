// Package postgres is the Postgres adapter: the connection pool, the
// embedded control-plane migrations and (in package db) their sqlc queries,
// and the tenant registry with the one way into tenant data
// (Tenants.InTenant, over the queries in package tenantdb).
package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Open returns a pool for databaseURL. Connections are made lazily, so Open
// succeeds while the database is down; readiness checks report it.
func Open(ctx context.Context, databaseURL, applicationName string) (*pgxpool.Pool, error) {
	return open(ctx, databaseURL, applicationName, nil)
}

// open is Open with a hook that adjusts the pool's configuration.
func open(ctx context.Context, databaseURL, applicationName string, configure func(*pgxpool.Config)) (*pgxpool.Pool, error) {
	cfg, err := parsePoolConfig(databaseURL, applicationName)
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

// parsePoolConfig parses a connection URL and names the connections.
func parsePoolConfig(databaseURL, applicationName string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		// The parse error may quote the URL, password included: keep it out.
		return nil, errors.New("postgres: DATABASE_URL is not a valid connection string")
	}
	if _, set := cfg.ConnConfig.RuntimeParams["application_name"]; !set {
		cfg.ConnConfig.RuntimeParams["application_name"] = applicationName
	}
	return cfg, nil
}

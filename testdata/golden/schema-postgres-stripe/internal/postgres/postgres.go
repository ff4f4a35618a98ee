// Package postgres is the Postgres adapter: the connection pool, the
// embedded control-plane migrations, and (in package db) the sqlc queries.
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
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		// The parse error may quote the URL, password included: keep it out.
		return nil, errors.New("postgres: DATABASE_URL is not a valid connection string")
	}
	if _, set := cfg.ConnConfig.RuntimeParams["application_name"]; !set {
		cfg.ConnConfig.RuntimeParams["application_name"] = applicationName
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: create pool: %w", err)
	}
	return pool, nil
}

package postgres

import (
	"github.com/jackc/pgx/v5/pgxpool"
)

// ControlPool exposes the control-plane pool to the tests.
func ControlPool(ts *Tenants) *pgxpool.Pool {
	return ts.pool
}

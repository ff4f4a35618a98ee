package postgres_test

import (
	"fmt"
	"testing"
)

// BenchmarkCreateTenant measures provisioning one tenant: registering it,
// creating its schema and migrating it.
//
//	go test ./internal/postgres -run '^$' -bench BenchmarkCreateTenant -benchtime 50x
func BenchmarkCreateTenant(b *testing.B) {
	bundle := setupTenants(b)
	i := 0
	for b.Loop() {
		if _, err := bundle.tenants.Create(b.Context(), fmt.Sprintf("bench-%06d", i), "Bench"); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

package kit

import (
	"testing"
)

// BenchmarkRender measures a whole `saaskit new` render in memory, through
// the renderer `new` uses: blueprint load, templates, formatting of every Go
// file, lock files, record and sqlc (run in a child copy of the test binary,
// as saaskit runs it).
// Writing and git are excluded. Target: under 300 ms.
func BenchmarkRender(b *testing.B) {
	rec := goldenCase(b, "row-redis-stripe-websocket").Record
	b.ReportAllocs()
	for b.Loop() {
		if _, err := (Renderer{}).Render(b.Context(), rec); err != nil {
			b.Fatal(err)
		}
	}
}

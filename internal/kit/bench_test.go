package kit

import (
	"testing"

	"github.com/saaskit/saaskit/generator"
)

// BenchmarkRender measures a whole `saaskit new` render in memory: templates,
// formatting of every Go file, lock files, record and sqlc (run in a child
// copy of the test binary, as saaskit runs it).
// Writing and git are excluded. Target: under 300 ms.
func BenchmarkRender(b *testing.B) {
	bp, tree, err := Load(AppBlueprint)
	if err != nil {
		b.Fatal(err)
	}
	in := generator.Input{Answers: GoldenCases[1].Answers, KitVersion: goldenVersion}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := generator.Render(bp, tree, in); err != nil {
			b.Fatal(err)
		}
	}
}

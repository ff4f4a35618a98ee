package kit

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/saaskit/saaskit/generator"
)

// Case is a named record the kit's tests render: each golden tree's own
// .saaskit.yaml. The golden tests compare its render with the tree, and the
// smoke tests build and test the same render, so adding a representative
// option set is adding one directory (see GoldenCases). The record is
// embedded so a case reads as its answers (tc.Answers["broker"]).
type Case struct {
	Name string // the golden tree's directory name
	*generator.Record
}

// GoldenCases reads the record of every golden tree, dir/*/.saaskit.yaml,
// in name order. A new case is a directory holding only its record until
// `go test ./internal/kit -run TestGolden -update` renders the rest.
func GoldenCases(dir string) ([]Case, error) {
	recs, err := filepath.Glob(filepath.Join(dir, "*", generator.RecordFile))
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("no golden records (%s) under %s", generator.RecordFile, dir)
	}
	sort.Strings(recs)
	cases := make([]Case, 0, len(recs))
	for _, p := range recs {
		raw, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		rec, err := generator.ParseRecord(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		cases = append(cases, Case{Name: filepath.Base(filepath.Dir(p)), Record: rec})
	}
	return cases, nil
}

package generator

import (
	"bytes"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/tools/imports"
)

// importsMu guards imports.LocalPrefix, which x/tools keeps in a package
// variable.
var importsMu sync.Mutex

// formatGo formats generated Go in memory: goimports prunes unused imports
// and groups the module's own imports last. Templates state their imports;
// nothing is added here. Invalid Go is an error naming the template, the
// output path and the numbered source.
func formatGo(tmpl, out string, src []byte, module string) ([]byte, error) {
	importsMu.Lock()
	defer importsMu.Unlock()
	imports.LocalPrefix = module
	res, err := imports.Process(out, src, &imports.Options{
		Comments:   true,
		TabIndent:  true,
		TabWidth:   8,
		FormatOnly: false,
	})
	if err != nil {
		return nil, fmt.Errorf("template %s rendered invalid Go in %s: %w\n%s", tmpl, out, err, numbered(src))
	}
	return res, nil
}

// numbered prefixes each line of src with its line number.
func numbered(src []byte) string {
	var b strings.Builder
	for i, line := range bytes.Split(bytes.TrimRight(src, "\n"), []byte("\n")) {
		fmt.Fprintf(&b, "%4d  %s\n", i+1, line)
	}
	return b.String()
}

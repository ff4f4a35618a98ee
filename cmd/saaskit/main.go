// Command saaskit generates production-grade Go SaaS backends.
package main

import (
	"os"

	"github.com/saaskit/saaskit/cmd/saaskit/root"
	"github.com/saaskit/saaskit/generator"
)

func main() {
	if code, ok := generator.SQLCChild(); ok {
		os.Exit(code)
	}
	os.Exit(root.Main())
}

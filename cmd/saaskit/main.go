// Command saaskit generates production-grade Go SaaS backends.
package main

import (
	"os"

	"github.com/saaskit/saaskit/cmd/saaskit/root"
)

func main() { os.Exit(root.Main()) }

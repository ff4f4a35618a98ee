// Command ledger runs the ledger API: see "ledger help".
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"ledger.internal/svc/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.Run(ctx, os.Args, os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ledger:", err)
		os.Exit(cli.ExitCode(err))
	}
}

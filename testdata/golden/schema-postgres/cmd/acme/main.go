// Command acme runs the acme API: see "acme help".
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"example.com/acme/internal/cli"
	"example.com/acme/internal/config"
)

func main() {
	// Settings come from the environment and, for what it leaves unset,
	// from ./.env when there is one.
	getenv, err := config.WithDotenv(config.DotenvFile, os.LookupEnv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "acme:", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = cli.Run(ctx, os.Args, getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "acme:", err)
		os.Exit(cli.ExitCode(err))
	}
}

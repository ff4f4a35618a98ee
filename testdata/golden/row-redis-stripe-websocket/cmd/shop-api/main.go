// Command shop-api runs the shop-api API: see "shop-api help".
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/acme/shop-api/internal/cli"
	"github.com/acme/shop-api/internal/config"
)

func main() {
	// Settings come from the environment and, for what it leaves unset,
	// from ./.env when there is one.
	getenv, err := config.WithDotenv(config.DotenvFile, os.LookupEnv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "shop-api:", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = cli.Run(ctx, os.Args, getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "shop-api:", err)
		os.Exit(cli.ExitCode(err))
	}
}

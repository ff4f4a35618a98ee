// Package cli is the acme command: it parses the command line, loads the
// configuration and runs a subcommand. Everything the process touches comes in
// as an argument, so tests run it with a fake environment and buffers.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
)

// appName names the program in messages and the client in Postgres and broker connections.
const appName = "acme"

// env is what a command may use of the process: environment, input and output.
type env struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// command is one subcommand.
type command struct {
	name    string
	args    string
	summary string
	run     func(ctx context.Context, e env, args []string) error
}

// commands lists every subcommand, in the order usage shows them.
func commands() []command {
	return []command{
		{"serve", "", "serve the HTTP API until SIGINT or SIGTERM", runServe},
		{"worker", "", "work background jobs until SIGINT or SIGTERM; metrics on WORKER_METRICS_ADDR", runWorker},
		{"jobs", "list [-state S] [-kind K] [-queue Q] [-tenant SLUG] [-limit n] | retry ID | cancel ID", "list jobs by state (scheduled, pending, running, failed, discarded) and kind, queue or tenant; retry one, or cancel one", runJobs},
		{"mail", "test ADDRESS", "enqueue a test email to ADDRESS; a running worker sends it through SMTP_URL", runMail},
		{"migrate", "[up|status]", "apply the control-plane migrations, then every tenant's (up, the default), or list the control-plane ones (status)", runMigrate},
		{"tenant", "create|list|migrate|suspend|resume|rename|delete [flags]", "create, list, suspend, resume, rename and delete tenants, and migrate their tables (tenant <action> -h for its flags)", runTenant},
		{"audit", "verify|export [--tenant SLUG] [--since TIME]", "check the audit log's hash chains (exit 1 when one is broken), or write its entries as JSON lines", runAudit},
		{"user", "create --email E --password-stdin [--name N] [--superuser]", "create a user, reading the password from standard input", runUser},
		{"dev", "", "migrate, then serve and work jobs in one process with human-readable logs, for local development", runDev},
		{"openapi", "[-yaml]", "write the API's OpenAPI 3.1 document (JSON, or YAML with -yaml) to standard output; needs no database", runOpenAPI},
		{"healthcheck", "[worker]", "exit 0 when the API on HTTP_ADDR (or the worker on WORKER_METRICS_ADDR) answers /healthz, for container health checks", runHealthcheck},
	}
}

// Run runs the command line args (args[0] is the program name) and returns
// when the command is done or ctx is cancelled.
func Run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	e := env{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) < 2 {
		printUsage(stderr)
		return &UsageError{msg: "no command given"}
	}
	name, rest := args[1], args[2:]
	switch name {
	case "help", "-h", "-help", "--help":
		printUsage(stdout)
		return nil
	}
	for _, c := range commands() {
		if c.name != name {
			continue
		}
		if err := c.run(ctx, e, rest); !errors.Is(err, flag.ErrHelp) {
			return err
		}
		return nil
	}
	printUsage(stderr)
	return &UsageError{msg: fmt.Sprintf("unknown command %q", name)}
}

// UsageError reports a command line that could not be understood.
type UsageError struct {
	msg string
}

func (e *UsageError) Error() string { return e.msg }

// ExitCode returns the process exit status for err: 0 for nil, 2 for a
// usage error, 1 for any other failure.
func ExitCode(err error) int {
	var usage *UsageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &usage):
		return 2
	default:
		return 1
	}
}

func printUsage(w io.Writer) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s runs the %s API.\n\nUsage:\n  %s <command> [arguments]\n\nCommands:\n", appName, appName, appName)
	for _, c := range commands() {
		fmt.Fprintf(&b, "  %s\n%s", strings.TrimSpace(c.name+" "+c.args), wrap(c.summary, "      ", usageWidth))
	}
	fmt.Fprintf(&b, "  help\n%s", wrap("show this help", "      ", usageWidth))
	b.WriteString("\nConfiguration comes from environment variables; see .env.example.\n")
	_, _ = io.WriteString(w, b.String())
}

// usageWidth is the column the usage's lines stay within.
const usageWidth = 100

// wrap breaks text into lines of at most width columns, each starting with
// indent; a word longer than a line stands alone.
func wrap(text, indent string, width int) string {
	var b strings.Builder
	line := indent
	for word := range strings.FieldsSeq(text) {
		if line != indent && len(line)+1+len(word) > width {
			b.WriteString(line + "\n")
			line = indent
		}
		if line != indent {
			line += " "
		}
		line += word
	}
	b.WriteString(line + "\n")
	return b.String()
}

// parseFlags parses a subcommand's arguments and returns the positional ones,
// at most maxArgs of them. For -h it prints the subcommand's help and returns
// flag.ErrHelp (which Run treats as success); for anything it cannot parse it
// returns a *UsageError.
func parseFlags(e env, c string, args []string, maxArgs int) ([]string, error) {
	return parse(newFlagSet(e, c), args, maxArgs)
}

// newFlagSet returns an empty flag set for subcommand c whose usage names
// the subcommand and lists the flags defined on it later.
func newFlagSet(e env, c string) *flag.FlagSet {
	fs := flag.NewFlagSet(appName+" "+c, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		name, _, _ := strings.Cut(c, " ")
		for _, cmd := range commands() {
			if cmd.name == name {
				fmt.Fprintf(e.stderr, "Usage: %s\n  %s\n", strings.TrimSpace(appName+" "+c+" "+argsOf(cmd, c)), cmd.summary)
			}
		}
		hasFlags := false
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintln(e.stderr, "Flags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

// argsOf is the argument synopsis of cmd, or none when c names one of its
// actions (which lists its own flags).
func argsOf(cmd command, c string) string {
	if c != cmd.name {
		return ""
	}
	return cmd.args
}

// parse parses args with fs, as parseFlags does.
func parse(fs *flag.FlagSet, args []string, maxArgs int) ([]string, error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, &UsageError{msg: err.Error()}
	}
	if fs.NArg() > maxArgs {
		fs.Usage()
		return nil, &UsageError{msg: fmt.Sprintf("%s: unexpected argument %q", strings.TrimPrefix(fs.Name(), appName+" "), fs.Arg(maxArgs))}
	}
	return fs.Args(), nil
}

// version is the module version the binary was built from, or "dev".
func version() string {
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return "dev"
}

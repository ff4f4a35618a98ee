package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"example.com/acme/internal/config"
	"example.com/acme/internal/jobs"
	"example.com/acme/internal/logging"
)

// runJobs is `jobs list|retry|cancel`, the operator's view of the queue.
func runJobs(ctx context.Context, e env, args []string) error {
	rest, err := parseFlags(e, "jobs", args, 10)
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		return &UsageError{msg: "jobs: want list, retry ID or cancel ID"}
	}
	action, rest := rest[0], rest[1:]
	switch action {
	case "list":
		return jobsList(ctx, e, rest)
	case "retry", "cancel":
		if len(rest) != 1 {
			return &UsageError{msg: fmt.Sprintf("jobs %s: want one job ID", action)}
		}
		return withServices(ctx, e, func(_ config.Config, s *services) error {
			op := s.jobs.Retry
			if action == "cancel" {
				op = s.jobs.Cancel
			}
			if err := op(ctx, rest[0]); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%s: %s\n", rest[0], map[string]string{"retry": "retried", "cancel": "cancelled"}[action])
			return nil
		})
	default:
		return &UsageError{msg: fmt.Sprintf("jobs: unknown action %q (want list, retry or cancel)", action)}
	}
}

// jobsList parses list's own flags (they follow the action) and prints the jobs.
func jobsList(ctx context.Context, e env, args []string) error {
	fs := flag.NewFlagSet(appName+" jobs list", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	stateName := fs.String("state", string(jobs.StateFailed),
		"jobs in this `state`: scheduled (not due yet), pending (due, waiting for a worker), running, failed (waiting to retry) or discarded (out of attempts)")
	kind := fs.String("kind", "", "only jobs of this `kind`, such as email.send")
	queue := fs.String("queue", "", "only jobs in this `queue`")
	tenant := fs.String("tenant", "", "only jobs of the tenant with this `slug` (control-plane: jobs of no tenant)")
	limit := fs.Int("limit", 100, "list at most this many jobs")
	if err := fs.Parse(args); err != nil {
		return &UsageError{msg: err.Error()}
	}
	if fs.NArg() > 0 || *limit < 1 {
		return &UsageError{msg: "jobs list: takes only -state, -kind, -queue, -tenant and a positive -limit"}
	}
	state, err := jobs.ParseState(*stateName)
	if err != nil {
		return &UsageError{msg: err.Error()}
	}
	return withServices(ctx, e, func(_ config.Config, s *services) error {
		infos, err := s.jobs.List(ctx, jobs.Query{State: state, Kind: *kind, Queue: *queue, Tenant: *tenant, Limit: *limit})
		if err != nil {
			return err
		}
		return printJobs(e.stdout, infos)
	})
}

// withServices runs fn with the configuration, database and job client of
// a one-off command.
func withServices(ctx context.Context, e env, fn func(config.Config, *services) error) error {
	return process{role: "jobs", format: logging.Text, quiet: true}.run(ctx, e, func(cfg config.Config, _ *slog.Logger, s *services) error {
		return fn(cfg, s)
	})
}

func printJobs(w io.Writer, infos []jobs.Info) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tQUEUE\tTENANT\tATTEMPT\tAT\tLAST ERROR")
	for i := range infos {
		j := &infos[i]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d/%d\t%s\t%s\n",
			j.ID, j.Kind, j.Queue, j.Tenant, j.Attempt, j.MaxAttempts, j.At.UTC().Format(time.RFC3339), oneLine(j.LastError))
	}
	return tw.Flush()
}

// oneLine keeps an error message to one table cell.
func oneLine(s string) string {
	const maxLen = 120
	out := []rune{}
	for _, r := range s {
		if r == '\n' || r == '\r' || r == '\t' {
			r = ' '
		}
		out = append(out, r)
		if len(out) == maxLen {
			return string(out) + "…"
		}
	}
	return string(out)
}

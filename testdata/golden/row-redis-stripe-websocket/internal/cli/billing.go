package cli

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/acme/shop-api/internal/billing"
	"github.com/acme/shop-api/internal/config"
	"github.com/acme/shop-api/internal/mail"
)

// openBilling loads the plans file (an invalid one stops the process with
// the line at fault) and returns the billing service on s.
func openBilling(cfg config.Config, s *services, logger *slog.Logger) (*billing.Service, error) {
	plans, err := billing.LoadPlans(cfg.BillingPlans)
	if err != nil {
		return nil, err
	}
	sealer, err := mail.NewSealer(cfg.SecretKey)
	if err != nil {
		return nil, err
	}
	return billing.New(billing.Config{
		Mail:          mail.NewQueue(s.jobs, sealer),
		Pool:          s.pool,
		Jobs:          s.jobs,
		Plans:         plans,
		SecretKey:     cfg.StripeSecretKey,
		WebhookSecret: cfg.StripeWebhookSecret,
		APIBase:       cfg.StripeAPIBase,
		ReturnURL:     "https://" + cfg.BaseDomain + "/billing",
		GracePeriod:   cfg.BillingGracePeriod,
		Logger:        logger,
	}), nil
}

// runBilling is `billing plans` and `billing sync`.
func runBilling(ctx context.Context, e env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
		fmt.Fprintf(e.stderr, "Usage: %s billing plans\n", appName)
		fmt.Fprintf(e.stderr, "       %s billing sync [--tenant SLUG]\n", appName)
		if len(args) == 0 {
			return &UsageError{msg: "billing: no action given (want plans or sync)"}
		}
		return flag.ErrHelp
	}
	switch args[0] {
	case "plans":
		if _, err := parseFlags(e, "billing plans", args[1:], 0); err != nil {
			return err
		}
		return withBilling(ctx, e, func(bill *billing.Service) error { return printPlans(ctx, e, bill) })
	case "sync":
		fs := newFlagSet(e, "billing sync")
		slug := fs.String("tenant", "", "reconcile only the tenant with this `slug` (default every tenant with a Stripe customer)")
		if _, err := parse(fs, args[1:], 0); err != nil {
			return err
		}
		return withBilling(ctx, e, func(bill *billing.Service) error { return syncBilling(ctx, e, bill, *slug) })
	}
	return &UsageError{msg: fmt.Sprintf("billing: unknown action %q (want plans or sync)", args[0])}
}

// withBilling runs fn with the billing service of the configuration.
func withBilling(ctx context.Context, e env, fn func(*billing.Service) error) error {
	return process{role: "jobs", quiet: true}.run(ctx, e, func(cfg config.Config, logger *slog.Logger, s *services) error {
		bill, err := openBilling(cfg, s, logger)
		if err != nil {
			return err
		}
		return fn(bill)
	})
}

// printPlans prints the plans as understood, and whether each price
// exists in Stripe (STRIPE_API_BASE); a missing price fails the command.
func printPlans(ctx context.Context, e env, bill *billing.Service) error {
	plans := bill.Plans()
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PLAN\tNAME\tSEATS\tTRIAL\tFEATURES\tLIMITS\tMETERED\tPRICES")
	missing := 0
	all := plans.All()
	for i := range all {
		p := &all[i]
		prices := make([]string, 0, len(p.Prices))
		for _, price := range p.Prices {
			status := "ok"
			if err := bill.CheckPrice(ctx, price); err != nil {
				status, missing = err.Error(), missing+1
			}
			prices = append(prices, price+" ("+status+")")
		}
		limits := make([]string, 0, len(p.Limits))
		for _, k := range slices.Sorted(maps.Keys(p.Limits)) {
			limits = append(limits, fmt.Sprintf("%s=%d", k, p.Limits[k]))
		}
		name := p.Name
		if p.ID == plans.Default.ID {
			name += " (default)"
		}
		trial := "-"
		if p.TrialDays > 0 {
			trial = fmt.Sprintf("%dd", p.TrialDays)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", p.ID, name, p.Seats, trial, dash(p.Features), dash(limits), dash(p.Metered), dash(prices))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if missing > 0 {
		return fmt.Errorf("billing plans: %d price(s) not found in Stripe", missing)
	}
	return nil
}

// dash joins items with commas, or is "-" when there are none.
func dash(items []string) string {
	if len(items) == 0 {
		return "-"
	}
	return strings.Join(items, ",")
}

// syncBilling reconciles the tenants' subscriptions with Stripe and prints
// what each now is.
func syncBilling(ctx context.Context, e env, bill *billing.Service, slug string) error {
	synced, err := bill.Sync(ctx, slug)
	for _, s := range synced {
		sub := s.Subscription
		if sub == "" {
			sub = "-"
		}
		fmt.Fprintf(e.stdout, "%s\t%s\t%s\n", s.Tenant, s.Status, sub)
	}
	if err != nil {
		return cliError(err)
	}
	fmt.Fprintf(e.stdout, "reconciled %d tenant(s) with Stripe\n", len(synced))
	return nil
}

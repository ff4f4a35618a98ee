package cli

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"text/tabwriter"

	"example.com/acme/internal/billing"
	"example.com/acme/internal/config"
)

// openBilling loads the plans file (an invalid one stops the process with
// the line at fault) and returns the billing service on s.
func openBilling(cfg config.Config, s *services, logger *slog.Logger) (*billing.Service, error) {
	plans, err := billing.LoadPlans(cfg.BillingPlans)
	if err != nil {
		return nil, err
	}
	return billing.New(billing.Config{
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

// runBilling is `billing plans`: the plans as understood, and whether each
// price exists in Stripe (STRIPE_API_BASE).
func runBilling(ctx context.Context, e env, args []string) error {
	rest, err := parseFlags(e, "billing", args, 1)
	if err != nil {
		return err
	}
	if len(rest) != 1 || rest[0] != "plans" {
		return &UsageError{msg: "billing: want plans"}
	}
	return process{role: "jobs", quiet: true}.run(ctx, e, func(cfg config.Config, logger *slog.Logger, s *services) error {
		bill, err := openBilling(cfg, s, logger)
		if err != nil {
			return err
		}
		plans := bill.Plans()
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PLAN\tNAME\tSEATS\tFEATURES\tLIMITS\tPRICES")
		missing := 0
		for _, p := range plans.All() {
			prices := make([]string, 0, len(p.Prices))
			for _, price := range p.Prices {
				status := "ok"
				if err := bill.CheckPrice(ctx, price); err != nil {
					status, missing = err.Error(), missing+1
				}
				prices = append(prices, price+" ("+status+")")
			}
			limits := make([]string, 0, len(p.Limits))
			for k, v := range p.Limits {
				limits = append(limits, fmt.Sprintf("%s=%d", k, v))
			}
			name := p.Name
			if p.ID == plans.Default.ID {
				name += " (default)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", p.ID, name, p.Seats, strings.Join(p.Features, ","), strings.Join(limits, ","), strings.Join(prices, ", "))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if missing > 0 {
			return fmt.Errorf("billing plans: %d price(s) not found in Stripe", missing)
		}
		return nil
	})
}

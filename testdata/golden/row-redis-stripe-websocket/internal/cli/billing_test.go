package cli_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/acme/shop-api/internal/testsvc"
)

// TestBillingPlans prints the plans and checks their prices against
// stripe-mock: the built-in plans pass, a price Stripe does not have fails
// the command and is named.
func TestBillingPlans(t *testing.T) {
	t.Parallel()
	env := liveEnv(t)
	env["STRIPE_API_BASE"] = testsvc.StripeURL(t)

	stdout, _, err := run(t, env, "billing", "plans")
	require.NoError(t, err, stdout)
	require.Regexp(t, `(?m)^free +Free \(default\) +3 +- +- +projects=3 +- +-$`, stdout)
	require.Regexp(t, `(?m)^pro +Pro +25 +14d +export,api_keys +projects=100 +api_calls +price_pro_monthly \(ok\),price_pro_yearly \(ok\)$`, stdout)

	// stripe-mock knows any well-formed price id; one with a slash is not
	// found.
	plans := filepath.Join(t.TempDir(), "plans.yaml")
	require.NoError(t, os.WriteFile(plans, []byte("default: free\nplans:\n  - id: free\n  - id: pro\n    prices: [price_ok, price/missing]\n"), 0o600))
	env["BILLING_PLANS"] = plans
	stdout, _, err = run(t, env, "billing", "plans")
	require.ErrorContains(t, err, "1 price(s) not found in Stripe")
	require.Contains(t, stdout, "price_ok (ok),price/missing (not found)")

	// An invalid plans file names its line.
	require.NoError(t, os.WriteFile(plans, []byte("default: free\nplans:\n  - id: Free\n"), 0o600))
	_, _, err = run(t, env, "billing", "plans")
	require.ErrorContains(t, err, plans+":3:")
}

// TestBillingSync reconciles against stripe-mock: a tenant without a
// Stripe customer is refused by name, and with no customers at all there
// is nothing to do.
func TestBillingSync(t *testing.T) {
	t.Parallel()
	env := liveEnv(t)
	env["STRIPE_API_BASE"] = testsvc.StripeURL(t)
	_, _, err := run(t, env, "migrate")
	require.NoError(t, err)
	_, _, err = run(t, env, "tenant", "create", "--slug", "acme", "--name", "Acme")
	require.NoError(t, err)

	stdout, _, err := run(t, env, "billing", "sync")
	require.NoError(t, err)
	require.Contains(t, stdout, "reconciled 0 tenant(s) with Stripe")
	_, _, err = run(t, env, "billing", "sync", "--tenant", "acme")
	require.ErrorContains(t, err, `tenant "acme": no such tenant, or it has no Stripe customer yet`)
	_, _, err = run(t, env, "billing", "refund")
	require.ErrorContains(t, err, `unknown action "refund"`)
}

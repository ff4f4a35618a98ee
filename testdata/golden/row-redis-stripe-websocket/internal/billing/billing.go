// Package billing is subscription billing with Stripe: plans and the
// entitlements they grant (plans.yaml), checkout and customer-portal
// sessions, the webhook intake that stores each verified event once and
// enqueues its processing in the same transaction, and the worker's
// processing, which applies events idempotently and in order.
//
// Its tables live in the control plane (billing_*), one subscription per
// tenant. Subscription state is read from the database, never from Stripe
// on the request path.
//
// Ordering: an event is applied only when it is not older (its created
// time) than the event that last wrote the tenant's subscription, so a
// late, older event never overwrites newer state; the same event delivered
// several times is applied once (its id is the job's idempotency key and
// the event table's primary key).
package billing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"

	"github.com/acme/shop-api/internal/domain"
	"github.com/acme/shop-api/internal/jobs"
	"github.com/acme/shop-api/internal/postgres"
)

// Config configures a Service.
type Config struct {
	// Pool is the control-plane database.
	Pool *pgxpool.Pool
	// Jobs enqueues event processing in the intake's transaction.
	Jobs *jobs.Client
	// Plans are the plans file's plans.
	Plans *Plans
	// SecretKey authenticates calls to Stripe (STRIPE_SECRET_KEY).
	SecretKey string
	// WebhookSecret verifies webhook signatures (STRIPE_WEBHOOK_SECRET).
	WebhookSecret string
	// APIBase is Stripe's base URL (STRIPE_API_BASE); tests use stripe-mock.
	APIBase string
	// HTTPClient carries calls to Stripe; default a client with a 30s timeout.
	HTTPClient *http.Client
	// ReturnURL is where checkout and the portal send the customer back.
	ReturnURL string
	// GracePeriod is how long after a failed payment the tenant keeps
	// writing (BILLING_GRACE_PERIOD); after it the tenant is read-only until
	// an invoice is paid. Default 7 days.
	GracePeriod time.Duration
	// Mail queues the dunning emails to a tenant's owners (mail.Queue).
	Mail postgres.MailQueue
	// Logger receives what is worth a look.
	Logger *slog.Logger
}

// Service is billing for the API, the worker and the CLI.
type Service struct {
	cfg     Config
	stripe  *client.API
	metrics *Metrics
}

// New returns the billing service.
func New(cfg Config) *Service {
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.GracePeriod <= 0 {
		cfg.GracePeriod = 7 * 24 * time.Hour
	}
	backend := stripe.GetBackendWithConfig(stripe.APIBackend, &stripe.BackendConfig{
		URL:               new(cfg.APIBase),
		HTTPClient:        cfg.HTTPClient,
		MaxNetworkRetries: new(int64(0)), // jobs and clients retry, with the same key
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
	})
	return &Service{
		cfg:     cfg,
		stripe:  client.New(cfg.SecretKey, &stripe.Backends{API: backend, Connect: backend, Uploads: backend}),
		metrics: newMetrics(),
	}
}

// WithMail returns the service with another mail queue, for tests that
// read what it queues.
func (s *Service) WithMail(q postgres.MailQueue) *Service {
	c := *s
	c.cfg.Mail = q
	return &c
}

// Plans returns the plans.
func (s *Service) Plans() *Plans { return s.cfg.Plans }

// WithPlans returns the service with other plans, for tests and tools
// that try a plans file other than the configured one.
func (s *Service) WithPlans(plans *Plans) *Service {
	c := *s
	c.cfg.Plans = plans
	return &c
}

// Collectors are the billing metrics for /metrics.
func (s *Service) Collectors() []prometheus.Collector { return s.metrics.collectors() }

// Subscription is a tenant's billing state as the database holds it.
type Subscription struct {
	Plan               Plan       `json:"plan"`
	Status             string     `json:"status" doc:"Stripe's subscription status, or none"`
	Seats              int64      `json:"seats"`
	TrialEnd           *time.Time `json:"trial_end,omitempty"`
	CurrentPeriodStart *time.Time `json:"current_period_start,omitempty"`
	CurrentPeriodEnd   *time.Time `json:"current_period_end,omitempty"`
	// PaymentFailedAt is when payment first failed, while it is not paid.
	PaymentFailedAt *time.Time `json:"payment_failed_at,omitempty"`
	// ReadOnlyFrom is when the tenant becomes (or became) read-only for
	// want of payment: the failure plus the grace period.
	ReadOnlyFrom *time.Time `json:"read_only_from,omitempty"`
}

// ReadOnlyAt reports whether the tenant is read-only for want of payment at
// now: its grace period after a failed payment is over.
func (s Subscription) ReadOnlyAt(now time.Time) bool {
	return s.ReadOnlyFrom != nil && !now.Before(*s.ReadOnlyFrom)
}

// inForce are the statuses whose plan applies; any other leaves the tenant
// on the default plan.
var inForce = map[string]bool{"active": true, "trialing": true, "past_due": true}

// Subscription returns tenant's subscription and the entitlements in force.
func (s *Service) Subscription(ctx context.Context, tenantID string) (Subscription, error) {
	sub := Subscription{Plan: s.cfg.Plans.Default, Status: "none"}
	var price string
	err := s.cfg.Pool.QueryRow(ctx, `
		SELECT price_id, status, seats, trial_end, current_period_start, current_period_end, payment_failed_at
		FROM billing_subscriptions WHERE tenant_id = $1`, tenantID).
		Scan(&price, &sub.Status, &sub.Seats, &sub.TrialEnd, &sub.CurrentPeriodStart, &sub.CurrentPeriodEnd, &sub.PaymentFailedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return sub, nil
	}
	if err != nil {
		return Subscription{}, fmt.Errorf("read subscription: %w", err)
	}
	if plan, ok := s.cfg.Plans.ForPrice(price); ok && inForce[sub.Status] {
		sub.Plan = plan
	}
	if sub.PaymentFailedAt != nil {
		sub.ReadOnlyFrom = new(sub.PaymentFailedAt.Add(s.cfg.GracePeriod))
	}
	return sub, nil
}

// Entitled reports whether tenant's plan in force grants feature.
func (s *Service) Entitled(ctx context.Context, tenantID, feature string) (bool, error) {
	sub, err := s.Subscription(ctx, tenantID)
	if err != nil {
		return false, err
	}
	return sub.Plan.Has(feature), nil
}

// Checkout starts a Checkout Session for tenant to subscribe to price and
// returns its URL. The tenant's Stripe customer is created once.
func (s *Service) Checkout(ctx context.Context, t domain.Tenant, price string) (string, error) {
	plan, ok := s.cfg.Plans.ForPrice(price)
	if !ok {
		return "", domain.Errorf(domain.EINVALID, "price %q buys no plan of this app", price)
	}
	customer, err := s.customer(ctx, t)
	if err != nil {
		return "", err
	}
	trial, err := s.trialDays(ctx, t, plan)
	if err != nil {
		return "", err
	}
	params := &stripe.CheckoutSessionParams{
		Customer:          new(customer),
		ClientReferenceID: new(t.ID),
		Mode:              new(string(stripe.CheckoutSessionModeSubscription)),
		SuccessURL:        new(s.cfg.ReturnURL),
		CancelURL:         new(s.cfg.ReturnURL),
		LineItems: []*stripe.CheckoutSessionLineItemParams{
			{Price: new(price), Quantity: new(int64(1))},
		},
	}
	if trial > 0 {
		params.SubscriptionData = &stripe.CheckoutSessionSubscriptionDataParams{TrialPeriodDays: new(trial)}
	}
	params.Context = ctx
	params.AddMetadata("tenant_id", t.ID)
	params.SetIdempotencyKey(idempotencyKey("checkout", t.ID, price, hourOf(time.Now())))
	sess, err := s.stripe.CheckoutSessions.New(params)
	if err != nil {
		return "", stripeError("create the checkout session", err)
	}
	return sess.URL, nil
}

// trialDays is the trial tenant t gets subscribing to plan: the plan's,
// unless the tenant has a subscription on record (in any status, cancelled
// included), so a trial is not had twice by cancelling and subscribing
// again.
func (s *Service) trialDays(ctx context.Context, t domain.Tenant, plan Plan) (int64, error) {
	if plan.TrialDays == 0 {
		return 0, nil
	}
	var had bool
	err := s.cfg.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM billing_subscriptions WHERE tenant_id = $1)`, t.ID).Scan(&had)
	if err != nil {
		return 0, fmt.Errorf("read subscription: %w", err)
	}
	if had {
		return 0, nil
	}
	return plan.TrialDays, nil
}

// Portal opens a customer-portal session for tenant and returns its URL.
func (s *Service) Portal(ctx context.Context, t domain.Tenant) (string, error) {
	customer, err := s.customer(ctx, t)
	if err != nil {
		return "", err
	}
	params := &stripe.BillingPortalSessionParams{Customer: new(customer), ReturnURL: new(s.cfg.ReturnURL)}
	params.Context = ctx
	params.SetIdempotencyKey(idempotencyKey("portal", t.ID, hourOf(time.Now())))
	sess, err := s.stripe.BillingPortalSessions.New(params)
	if err != nil {
		return "", stripeError("create the portal session", err)
	}
	return sess.URL, nil
}

// customer returns tenant's Stripe customer id, creating the customer the
// first time. The creation's idempotency key is the tenant's, so a retry
// (or a concurrent first checkout) gets the same customer from Stripe.
func (s *Service) customer(ctx context.Context, t domain.Tenant) (string, error) {
	var id string
	err := s.cfg.Pool.QueryRow(ctx, `SELECT stripe_customer_id FROM billing_customers WHERE tenant_id = $1`, t.ID).Scan(&id)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("read customer: %w", err)
	}
	params := &stripe.CustomerParams{Name: new(t.Name)}
	params.Context = ctx
	params.AddMetadata("tenant_id", t.ID)
	params.SetIdempotencyKey(idempotencyKey("customer", t.ID))
	c, err := s.stripe.Customers.New(params)
	if err != nil {
		return "", stripeError("create the customer", err)
	}
	// The first writer wins; a concurrent one reads its id.
	err = s.cfg.Pool.QueryRow(ctx, `
		INSERT INTO billing_customers (tenant_id, stripe_customer_id) VALUES ($1, $2)
		ON CONFLICT (tenant_id) DO UPDATE SET tenant_id = EXCLUDED.tenant_id
		RETURNING stripe_customer_id`, t.ID, c.ID).Scan(&id)
	if err != nil {
		return "", fmt.Errorf("store customer: %w", err)
	}
	return id, nil
}

// idempotencyKey joins the action and what identifies it: the same action
// on the same things sends the same key, so Stripe does it once.
func idempotencyKey(action string, parts ...string) string {
	return strings.Join(append([]string{"shop-api", action}, parts...), ":")
}

// hourOf buckets sessions: a retried request within the hour gets the same
// session back, a later one a new session.
func hourOf(t time.Time) string { return t.UTC().Format("2006010215") }

// stripeError maps a failed call: Stripe's own refusal of the request is
// the client's (invalid), anything else is a dependency outage.
func stripeError(what string, err error) error {
	var se *stripe.Error
	if errors.As(err, &se) && se.HTTPStatusCode >= 400 && se.HTTPStatusCode < 500 && se.HTTPStatusCode != http.StatusTooManyRequests {
		return domain.Errorf(domain.EINVALID, "Stripe refused to %s: %s", what, se.Msg)
	}
	return domain.Errorf(domain.EUNAVAILABLE, "Stripe is unavailable (%s): %v", what, err)
}

// Metrics count the webhook intake.
type Metrics struct {
	received           *prometheus.CounterVec
	apiVersionMismatch prometheus.Counter
}

func newMetrics() *Metrics {
	return &Metrics{
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "billing_webhook_events_total",
			Help: "Stripe webhook requests by outcome (stored, duplicate, rejected).",
		}, []string{"outcome"}),
		apiVersionMismatch: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "billing_webhook_api_version_mismatch_total",
			Help: "Stripe events whose api_version is not the one stripe-go " + stripe.APIVersion + " expects; stored and processed anyway.",
		}),
	}
}

func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.received, m.apiVersionMismatch}
}

// CheckPrice returns nil when price exists in Stripe and is active.
func (s *Service) CheckPrice(ctx context.Context, price string) error {
	params := &stripe.PriceParams{}
	params.Context = ctx
	p, err := s.stripe.Prices.Get(price, params)
	if err != nil {
		var se *stripe.Error
		if errors.As(err, &se) && se.HTTPStatusCode == http.StatusNotFound {
			return errors.New("not found")
		}
		return fmt.Errorf("unknown: %w", err)
	}
	if !p.Active {
		return errors.New("inactive")
	}
	return nil
}

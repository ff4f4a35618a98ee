package billing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/acme/shop-api/internal/jobs"
)

// MaxEventBytes bounds a webhook body; Stripe's events are far smaller.
const MaxEventBytes = 256 << 10

// Tolerance is how old a signature's timestamp may be; MaxClockSkew how far
// in the future (the sender's clock running ahead).
const (
	Tolerance    = 5 * time.Minute
	MaxClockSkew = 30 * time.Second
)

// ErrRejected wraps every reason an event is refused before anything is
// stored: a bad or missing signature, a stale or future timestamp, a body
// that is not an event.
var ErrRejected = errors.New("webhook rejected")

// Event is a verified webhook event and its raw body.
type Event struct {
	stripe.Event
	Raw []byte
}

// Verify checks payload's Stripe-Signature header (signature, and a
// timestamp neither older than Tolerance nor later than MaxClockSkew) and
// parses the event. An API version other than stripe-go's is accepted
// (Stripe sends the account's version) and counted in
// billing_webhook_api_version_mismatch_total.
func (s *Service) Verify(payload []byte, header string, now time.Time) (Event, error) {
	ts, err := signedAt(header)
	if err != nil {
		s.metrics.received.WithLabelValues("rejected").Inc()
		return Event{}, err
	}
	if ts.After(now.Add(MaxClockSkew)) {
		s.metrics.received.WithLabelValues("rejected").Inc()
		return Event{}, fmt.Errorf("%w: the signature's timestamp is in the future", ErrRejected)
	}
	ev, err := webhook.ConstructEventWithOptions(payload, header, s.cfg.WebhookSecret, webhook.ConstructEventOptions{
		Tolerance:                Tolerance,
		IgnoreAPIVersionMismatch: true,
	})
	if err != nil {
		s.metrics.received.WithLabelValues("rejected").Inc()
		return Event{}, fmt.Errorf("%w: %w", ErrRejected, err)
	}
	if ev.ID == "" || ev.Type == "" || ev.Data == nil || ev.Created == 0 {
		s.metrics.received.WithLabelValues("rejected").Inc()
		return Event{}, fmt.Errorf("%w: the body is not a Stripe event", ErrRejected)
	}
	if ev.APIVersion != stripe.APIVersion {
		s.metrics.apiVersionMismatch.Inc()
	}
	return Event{Event: ev, Raw: payload}, nil
}

// signedAt returns the t= timestamp of a Stripe-Signature header.
func signedAt(header string) (time.Time, error) {
	for item := range strings.SplitSeq(header, ",") {
		k, v, _ := strings.Cut(item, "=")
		if k == "t" {
			sec, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				break
			}
			return time.Unix(sec, 0), nil
		}
	}
	return time.Time{}, fmt.Errorf("%w: no timestamp in the Stripe-Signature header", ErrRejected)
}

// ProcessEvent is the job that applies one stored event.
type ProcessEvent struct {
	EventID string `json:"event_id"`
}

// Kind names the job.
func (ProcessEvent) Kind() string { return "billing.process_event" }

// JobOptions retries an event for a day or so before giving it up.
func (ProcessEvent) JobOptions() jobs.Options { return jobs.Options{MaxAttempts: 20} }

// Store records ev once and, in the same transaction, enqueues its
// processing (a control-plane job keyed by the event id). It reports
// whether the event was new; a duplicate changes nothing.
func (s *Service) Store(ctx context.Context, ev Event) (bool, error) {
	stored := false
	err := pgx.BeginFunc(ctx, s.cfg.Pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			INSERT INTO billing_events (id, type, api_version, created, payload)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING`,
			ev.ID, string(ev.Type), ev.APIVersion, time.Unix(ev.Created, 0), json.RawMessage(ev.Raw))
		if err != nil {
			return fmt.Errorf("store event: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return nil
		}
		stored = true
		_, err = s.cfg.Jobs.Enqueue(ctx, tx, jobs.Job{
			Args:    ProcessEvent{EventID: ev.ID},
			Options: jobs.Options{Key: "stripe-event:" + ev.ID},
		})
		return err
	})
	if err != nil {
		return false, err
	}
	if stored {
		s.metrics.received.WithLabelValues("stored").Inc()
	} else {
		s.metrics.received.WithLabelValues("duplicate").Inc()
	}
	return stored, nil
}

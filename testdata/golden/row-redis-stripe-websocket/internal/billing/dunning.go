package billing

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/acme/shop-api/internal/domain"
	"github.com/acme/shop-api/internal/jobs"
)

// Dunning emails: after a failed payment the tenant's owners are told at
// once (StagePaymentFailed), a day before the tenant turns read-only
// (StageReadOnlySoon; half-way for a grace period of two days or less),
// and when it does (StageReadOnly); a payment after a failure tells them
// it is restored (StageRestored). Each is a job scheduled when the failure
// (or the payment) is processed, keyed by the tenant, the failure and the
// stage, so duplicate and retried events send it once; each checks, when
// it runs, that it still applies, so a payment in between silences the
// rest.
const (
	StagePaymentFailed = "payment_failed"
	StageReadOnlySoon  = "read_only_soon"
	StageReadOnly      = "read_only"
	StageRestored      = "restored"
)

// DunningEmailArgs is the job that emails a tenant's owners about a failed
// payment's stage.
type DunningEmailArgs struct {
	TenantID string `json:"tenant_id"`
	// FailedAt is when the payment first failed, in Unix seconds: the
	// failure the email is about.
	FailedAt int64  `json:"failed_at"`
	Stage    string `json:"stage"`
}

// Kind names the job.
func (DunningEmailArgs) Kind() string { return "billing.dunning_email" }

// scheduleDunning enqueues, in tx, the dunning emails of tenant's payment
// failure at failedAt.
func (s *Service) scheduleDunning(ctx context.Context, tx pgx.Tx, tenant string, failedAt time.Time) error {
	before := min(24*time.Hour, s.cfg.GracePeriod/2)
	readOnly := failedAt.Add(s.cfg.GracePeriod)
	for stage, at := range map[string]time.Time{
		StagePaymentFailed: time.Now(),
		StageReadOnlySoon:  readOnly.Add(-before),
		StageReadOnly:      readOnly,
	} {
		if err := s.enqueueDunning(ctx, tx, tenant, failedAt, stage, at); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) enqueueDunning(ctx context.Context, tx pgx.Tx, tenant string, failedAt time.Time, stage string, at time.Time) error {
	_, err := s.cfg.Jobs.Enqueue(ctx, tx, jobs.Job{
		Args: DunningEmailArgs{TenantID: tenant, FailedAt: failedAt.Unix(), Stage: stage},
		Options: jobs.Options{
			RunAt: at,
			Key:   "dunning:" + tenant + ":" + strconv.FormatInt(failedAt.Unix(), 10) + ":" + stage,
		},
	})
	return err
}

// HandleDunningEmail is the worker's handler of DunningEmailArgs: it queues
// the stage's email to each owner of the tenant, unless the tenant's
// billing has moved on (paid, or failed again later, for the failure
// stages; failed again, for StageRestored).
func (s *Service) HandleDunningEmail(ctx context.Context, tx pgx.Tx, d *jobs.Delivery[DunningEmailArgs]) error {
	a := d.Args
	var failedAt *time.Time
	err := tx.QueryRow(ctx, `SELECT payment_failed_at FROM billing_subscriptions WHERE tenant_id = $1`, a.TenantID).Scan(&failedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // cancelled and forgotten: nothing to say
	}
	if err != nil {
		return fmt.Errorf("read subscription: %w", err)
	}
	if a.Stage == StageRestored {
		if failedAt != nil {
			return nil
		}
	} else if failedAt == nil || failedAt.Unix() != a.FailedAt {
		return nil
	}
	if s.cfg.Mail == nil {
		return jobs.Permanent(errors.New("billing has no mail queue to send dunning email with"))
	}
	rows, err := tx.Query(ctx, `
		SELECT u.email, t.slug, t.name FROM memberships m
		JOIN users u ON u.id = m.user_id JOIN tenants t ON t.id = m.tenant_id
		WHERE m.tenant_id = $1 AND m.role = 'owner' ORDER BY u.email`, a.TenantID)
	if err != nil {
		return fmt.Errorf("read owners: %w", err)
	}
	type owner struct{ email, slug, name string }
	owners, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (owner, error) {
		var o owner
		return o, r.Scan(&o.email, &o.slug, &o.name)
	})
	if err != nil {
		return fmt.Errorf("read owners: %w", err)
	}
	readOnly := time.Unix(a.FailedAt, 0).Add(s.cfg.GracePeriod).UTC()
	for _, o := range owners {
		t := domain.Tenant{ID: a.TenantID, Slug: o.slug, Name: o.name}
		subject, text := dunningEmail(a.Stage, t, readOnly)
		key := "dunning:" + a.TenantID + ":" + strconv.FormatInt(a.FailedAt, 10) + ":" + a.Stage + ":" + o.email
		if err := s.cfg.Mail.QueueMail(ctx, tx, t, key, domain.Email{To: o.email, Subject: subject, Text: text}); err != nil {
			return fmt.Errorf("queue dunning email: %w", err)
		}
	}
	return nil
}

// dunningEmail is the subject and text of stage's email about t.
func dunningEmail(stage string, t domain.Tenant, readOnly time.Time) (string, string) {
	when := readOnly.Format(time.RFC1123)
	fix := "Update the payment method in the billing portal (POST /v1/billing/portal) or pay the open invoice.\n"
	switch stage {
	case StagePaymentFailed:
		return "Payment failed for " + t.Name, fmt.Sprintf(
			"The latest payment for %s (%s) failed.\n\n%s\nIf it is still unpaid on %s, %s becomes read-only until it is paid.\n",
			t.Name, t.Slug, fix, when, t.Name)
	case StageReadOnlySoon:
		return t.Name + " becomes read-only on " + readOnly.Format(time.DateOnly), fmt.Sprintf(
			"The payment for %s (%s) is still outstanding. On %s it becomes read-only: its members can read but not change anything.\n\n%s",
			t.Name, t.Slug, when, fix)
	case StageReadOnly:
		return t.Name + " is now read-only", fmt.Sprintf(
			"The payment for %s (%s) is still outstanding, so it is now read-only: its members can read but not change anything. "+
				"Owners can still reach billing.\n\n%s",
			t.Name, t.Slug, fix)
	default:
		return "Payment received for " + t.Name, fmt.Sprintf(
			"The payment for %s (%s) has been received: everything works again as before.\n", t.Name, t.Slug)
	}
}

package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"example.com/acme/internal/domain"
	"example.com/acme/internal/postgres/db"
)

// ProblemSeatLimit is the problem type of an invitation or acceptance
// refused because the tenant's plan has no seat left.
const ProblemSeatLimit = "/problems/seat-limit"

// SeatKeeper is what billing does with a tenant's members: it caps them by
// the tenant's plan, and keeps the subscription's quantity in step with
// them. Identity calls it under the tenant's membership lock. Without one
// (no billing) members are not capped.
type SeatKeeper interface {
	// SeatLimit returns how many members tenantID's plan allows; 0 is no
	// limit.
	SeatLimit(ctx context.Context, tenantID string) (int64, error)
	// MembersChanged is told, in the transaction that added or removed a
	// member of tenantID, that its member count changed.
	MembersChanged(ctx context.Context, tx pgx.Tx, tenantID string) error
}

// ProblemInvitationLimit is the problem type of an invitation refused
// because the tenant has as many pending invitations as it may.
const ProblemInvitationLimit = "/problems/invitation-limit"

// checkPendingInvitations refuses a new invitation to t when it has
// MaxPendingInvitations pending already. The caller holds t's membership
// lock.
func (id *Identity) checkPendingInvitations(ctx context.Context, q *db.Queries, t domain.Tenant) error {
	if id.opts.MaxPendingInvitations <= 0 {
		return nil
	}
	seats, err := q.CountSeats(ctx, pgUUID(t.ID))
	if err != nil {
		return fmt.Errorf("count invitations: %w", err)
	}
	if seats.Pending >= id.opts.MaxPendingInvitations {
		e := domain.Errorf(domain.ECONFLICT,
			"%s has %d pending invitations, as many as it may; revoke some, or wait until they are accepted or expire.", t.Slug, seats.Pending)
		e.Type = ProblemInvitationLimit
		return e
	}
	return nil
}

// countInvitationSent counts an invitation t sends today, and refuses it
// past MaxInvitationsPerDay. The count is taken back if the invitation's
// transaction rolls back, so only invitations made count.
func (id *Identity) countInvitationSent(ctx context.Context, q *db.Queries, t domain.Tenant) error {
	if id.opts.MaxInvitationsPerDay <= 0 {
		return nil
	}
	sent, err := q.CountInvitationSent(ctx, pgUUID(t.ID))
	if err != nil {
		return fmt.Errorf("count invitations sent: %w", err)
	}
	if sent > id.opts.MaxInvitationsPerDay {
		e := domain.Errorf(domain.ECONFLICT,
			"%s has sent %d invitations today (UTC), revoked ones included, as many as it may in a day; try again tomorrow.", t.Slug, sent-1)
		e.Type = ProblemInvitationLimit
		return e
	}
	return nil
}

// checkSeats refuses to add a member to t when its members, and
// with invitations its pending invitations, would exceed its plan's seat
// limit. The caller holds t's membership lock, so concurrent additions are
// counted one after the other.
func (id *Identity) checkSeats(ctx context.Context, q *db.Queries, t domain.Tenant, invitations bool) error {
	if id.opts.Seats == nil {
		return nil
	}
	limit, err := id.opts.Seats.SeatLimit(ctx, t.ID)
	if err != nil || limit <= 0 {
		return err
	}
	seats, err := q.CountSeats(ctx, pgUUID(t.ID))
	if err != nil {
		return fmt.Errorf("count seats: %w", err)
	}
	taken, what := seats.Members, "members"
	if invitations {
		taken, what = seats.Members+seats.Pending, "members and pending invitations"
	}
	if taken+1 > limit {
		e := domain.Errorf(domain.EFORBIDDEN,
			"The plan of %s has %d seats and %d are taken by %s; upgrade the plan (POST /v1/billing/checkout), remove a member or revoke an invitation.",
			t.Slug, limit, taken, what)
		e.Type = ProblemSeatLimit
		return e
	}
	return nil
}

// membersChanged tells the SeatKeeper that t's member count changed, in tx.
func (id *Identity) membersChanged(ctx context.Context, tx pgx.Tx, t domain.Tenant) error {
	if id.opts.Seats == nil {
		return nil
	}
	return id.opts.Seats.MembersChanged(ctx, tx, t.ID)
}

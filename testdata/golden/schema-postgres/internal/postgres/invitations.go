package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"example.com/acme/internal/auth"
	"example.com/acme/internal/domain"
	"example.com/acme/internal/postgres/db"
)

// errNoInvitation is the one answer to a token that cannot be accepted,
// whatever the reason, so tokens cannot be probed.
var errNoInvitation = domain.Errorf(domain.ENOTFOUND, "This invitation does not exist, has expired, was already used or is for another email address.")

// Invite invites email to a's tenant in role, which a must hold every
// permission of, and queues the email carrying the invitation's single-use
// token in the same transaction: the invitation exists if and only if its
// email is on its way.
func (id *Identity) Invite(ctx context.Context, a domain.Access, email, role string) (domain.Invitation, error) {
	email, normErr := domain.NormalizeEmail(email)
	if normErr != nil {
		return domain.Invitation{}, normErr
	}
	token := auth.NewToken(auth.InvitationPrefix)
	var inv domain.Invitation
	err := pgx.BeginFunc(ctx, id.pool, func(tx pgx.Tx) error {
		q := db.New(tx)
		// Under the membership lock, so the role cannot be deleted between
		// being read here and the invitation naming it.
		if err := q.LockTenantMemberships(ctx, pgUUID(a.Tenant.ID)); err != nil {
			return fmt.Errorf("lock memberships: %w", err)
		}
		perms, err := roleOf(ctx, q, a.Tenant, role)
		if err != nil {
			return err
		}
		err = requireCovers(a, perms, "Inviting to role "+role)
		if err != nil {
			return err
		}
		err = id.checkPendingInvitations(ctx, q, a.Tenant)
		if err != nil {
			return err
		}
		err = id.checkSeats(ctx, q, a.Tenant, true)
		if err != nil {
			return err
		}
		err = id.countInvitationSent(ctx, q, a.Tenant)
		if err != nil {
			return err
		}
		row, err := q.InsertInvitation(ctx, db.InsertInvitationParams{
			TenantID:  pgUUID(a.Tenant.ID),
			Email:     email,
			Role:      role,
			TokenHash: auth.HashToken(token),
			InvitedBy: pgUUID(a.Principal.UserID),
			ExpiresAt: pgtype.Timestamptz{Time: time.Now().Add(id.opts.InvitationTTL).UTC().Truncate(time.Second), Valid: true},
		})
		if err != nil {
			return fmt.Errorf("invite: %w", err)
		}
		inv = invitationFromRow(db.ListPendingInvitationsRow{
			ID: row.ID, Email: row.Email, Role: row.Role, InvitedBy: row.InvitedBy, CreatedAt: row.CreatedAt, ExpiresAt: row.ExpiresAt,
		})
		// The invitation, never its token.
		err = RecordControl(ctx, tx, a.Tenant, "invitation.create", "invitation:"+inv.ID, nil, inv)
		if err != nil {
			return err
		}
		err = id.mail.QueueMail(ctx, tx, a.Tenant, "invitation:"+inv.ID, domain.Email{
			To:      email,
			Subject: "You are invited to join " + a.Tenant.Name,
			Text: fmt.Sprintf("You are invited to join %s (%s) as %s.\n\n"+
				"To accept, open this link, then sign in, or sign up with this email address:\n\n    %s\n\n"+
				"The link works once and expires on %s. If you did not expect it, ignore this message.\n",
				a.Tenant.Name, a.Tenant.Slug, role, id.link("/invitations/accept", token), inv.ExpiresAt.Format(time.RFC1123)),
		})
		if err != nil {
			return domain.Wrap(err, domain.EUNAVAILABLE, "The invitation email could not be queued; try again later.")
		}
		return nil
	})
	return inv, err
}

// Invitations pages through tenant t's pending invitations (neither
// accepted nor expired nor revoked) in creation order.
func (id *Identity) Invitations(ctx context.Context, t domain.Tenant, after domain.Position, limit int) ([]domain.Invitation, error) {
	afterAt, afterID := keyset(after)
	rows, err := id.queries.ListPendingInvitations(ctx, db.ListPendingInvitationsParams{
		TenantID: pgUUID(t.ID), AfterCreatedAt: afterAt, AfterID: afterID, MaxItems: clampLimit(limit),
	})
	if err != nil {
		return nil, fmt.Errorf("list invitations: %w", err)
	}
	out := make([]domain.Invitation, len(rows))
	for i := range rows {
		out[i] = invitationFromRow(rows[i])
	}
	return out, nil
}

// RevokeInvitation deletes pending invitation invitationID of a's tenant:
// its token then gets the answer of any dead one. a must hold every
// permission of the invitation's role, as inviting to it takes.
func (id *Identity) RevokeInvitation(ctx context.Context, a domain.Access, invitationID string) error {
	notFound := domain.Errorf(domain.ENOTFOUND, "No invitation %s pending in %s.", truncateSlug(invitationID), a.Tenant.Slug)
	invID, ok := parseUUID(invitationID)
	if !ok {
		return notFound
	}
	return id.inAuditedTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		params := db.GetPendingInvitationParams{TenantID: pgUUID(a.Tenant.ID), ID: invID}
		row, err := q.GetPendingInvitation(ctx, params)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound
		}
		if err != nil {
			return fmt.Errorf("look up invitation: %w", err)
		}
		// An invitation to a role the tenant no longer has cannot be
		// accepted: anyone who may revoke invitations may clear it.
		perms, err := roleOf(ctx, q, a.Tenant, row.Role)
		if err != nil && domain.ErrorCode(err) != domain.EINVALID {
			return err
		}
		err = requireCovers(a, perms, "Revoking an invitation to role "+row.Role)
		if err != nil {
			return err
		}
		deleted, err := q.DeletePendingInvitation(ctx, db.DeletePendingInvitationParams(params))
		if errors.Is(err, pgx.ErrNoRows) {
			// Accepted or expired since it was read.
			return notFound
		}
		if err != nil {
			return fmt.Errorf("revoke invitation: %w", err)
		}
		inv := invitationFromRow(db.ListPendingInvitationsRow(deleted))
		return RecordControl(ctx, tx, a.Tenant, "invitation.revoke", "invitation:"+inv.ID, inv, nil)
	})
}

// invitationFromRow is an invitation without its token hash.
func invitationFromRow(r db.ListPendingInvitationsRow) domain.Invitation {
	return domain.Invitation{
		ID: r.ID.String(), Email: r.Email, Role: r.Role, InvitedBy: r.InvitedBy.String(),
		CreatedAt: r.CreatedAt.Time, ExpiresAt: r.ExpiresAt.Time,
	}
}

// AcceptInvitation makes userID a member of the invitation's tenant in its
// role and uses the invitation up. The token must be live and sent to the
// user's email address, and whoever sent it must still be allowed to hand
// out the role; otherwise the answer is the same ENOTFOUND. When
// verification is required, the address must be verified first.
func (id *Identity) AcceptInvitation(ctx context.Context, userID, token string) (domain.Membership, error) {
	var m domain.Membership
	err := id.inAuditedTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		user, err := q.GetUser(ctx, pgUUID(userID))
		if err != nil {
			return fmt.Errorf("accept invitation: %w", err)
		}
		if id.opts.RequireVerifiedEmail && !user.EmailVerifiedAt.Valid {
			return errUnverified
		}
		inv, err := q.ClaimInvitation(ctx, db.ClaimInvitationParams{UserID: user.ID, TokenHash: auth.HashToken(token), Email: user.Email})
		if errors.Is(err, pgx.ErrNoRows) {
			return errNoInvitation
		}
		if err != nil {
			return fmt.Errorf("accept invitation: %w", err)
		}
		row, err := q.GetActiveTenant(ctx, inv.TenantID)
		if errors.Is(err, pgx.ErrNoRows) {
			return errNoInvitation
		}
		if err != nil {
			return fmt.Errorf("accept invitation: %w", err)
		}
		t := tenantFromRow(row)
		err = id.inviterMayGrant(ctx, q, t, inv)
		if err != nil {
			return err
		}
		// Under the membership lock, so concurrent acceptances cannot
		// together pass the plan's seat limit.
		err = q.LockTenantMemberships(ctx, inv.TenantID)
		if err != nil {
			return fmt.Errorf("lock memberships: %w", err)
		}
		err = id.checkSeats(ctx, q, t, false)
		if err != nil {
			return err
		}
		member, err := q.InsertMembership(ctx, db.InsertMembershipParams{TenantID: inv.TenantID, UserID: user.ID, Role: inv.Role})
		if isUniqueViolation(err) {
			return domain.Errorf(domain.ECONFLICT, "You are already a member of %s.", t.Slug)
		}
		if err != nil {
			return fmt.Errorf("accept invitation: %w", err)
		}
		m = domain.Membership{ID: member.ID.String(), Tenant: t, UserID: userID, Email: user.Email, Name: user.Name, Role: member.Role, CreatedAt: member.CreatedAt.Time}
		err = id.membersChanged(ctx, tx, t)
		if err != nil {
			return err
		}
		return RecordControl(ctx, tx, t, "invitation.accept", "member:"+m.ID, nil, m)
	})
	return m, err
}

// inviterMayGrant checks that whoever sent inv still holds every permission
// of its role in t: an invitation is worth no more than its sender is now.
func (id *Identity) inviterMayGrant(ctx context.Context, q *db.Queries, t domain.Tenant, inv db.Invitation) error {
	perms, err := roleOf(ctx, q, t, inv.Role)
	if domain.ErrorCode(err) == domain.EINVALID {
		return errNoInvitation
	}
	if err != nil {
		return err
	}
	inviter, err := q.GetUser(ctx, inv.InvitedBy)
	if err != nil {
		return fmt.Errorf("look up inviter: %w", err)
	}
	held := domain.BuiltinPermissions(domain.RoleOwner)
	if !inviter.Superuser {
		access, err := q.GetMemberAccess(ctx, db.GetMemberAccessParams{TenantID: inv.TenantID, UserID: inv.InvitedBy})
		if errors.Is(err, pgx.ErrNoRows) {
			return errNoInvitation
		}
		if err != nil {
			return fmt.Errorf("look up inviter: %w", err)
		}
		held = rolePermissions(access.Role, access.CustomPermissions)
	}
	if !held.Covers(perms) {
		return errNoInvitation
	}
	return nil
}

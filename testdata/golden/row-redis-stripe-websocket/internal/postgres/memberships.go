package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/acme/shop-api/internal/domain"
	"github.com/acme/shop-api/internal/postgres/db"
)

// Members pages through tenant t's members in joining order.
func (id *Identity) Members(ctx context.Context, t domain.Tenant, after domain.Position, limit int) ([]domain.Membership, error) {
	afterAt, afterID := keyset(after)
	rows, err := id.queries.ListMemberships(ctx, db.ListMembershipsParams{
		TenantID: pgUUID(t.ID), AfterCreatedAt: afterAt, AfterID: afterID, MaxItems: clampLimit(limit),
	})
	if err != nil {
		return nil, fmt.Errorf("list members: %w", err)
	}
	out := make([]domain.Membership, len(rows))
	for i, r := range rows {
		out[i] = domain.Membership{
			ID: r.ID.String(), Tenant: t, UserID: r.UserID.String(), Email: r.Email, Name: r.Name,
			Role: r.Role, CreatedAt: r.CreatedAt.Time,
		}
	}
	return out, nil
}

// ChangeRole gives member memberID of caller's tenant the role role. The caller must hold
// every permission of the member's current role and of the new one (so
// only owners make or unmake owners), and the tenant keeps at least one
// owner.
func (id *Identity) ChangeRole(ctx context.Context, caller domain.Access, memberID, role string) (domain.Membership, error) {
	var m domain.Membership
	err := id.changeMember(ctx, caller, memberID, func(tx pgx.Tx, q *db.Queries, a domain.Access, current db.GetMembershipRow) (*AccessChange, error) {
		perms, err := roleOf(ctx, q, a.Tenant, role)
		if err != nil {
			return nil, err
		}
		if err := requireCovers(a, perms, "Giving role "+role); err != nil {
			return nil, err
		}
		if current.Role == domain.RoleOwner && role != domain.RoleOwner {
			if err := requireAnotherOwner(ctx, q, a.Tenant); err != nil {
				return nil, err
			}
		}
		if err := q.UpdateMembershipRole(ctx, db.UpdateMembershipRoleParams{TenantID: pgUUID(a.Tenant.ID), ID: current.ID, Role: role}); err != nil {
			return nil, fmt.Errorf("change role: %w", err)
		}
		before := membershipFromRow(a.Tenant, current)
		m = before
		m.Role = role
		// The member's API keys are capped by their role: they re-check too.
		changed := &AccessChange{Tenant: a.Tenant.ID, User: m.UserID}
		return changed, RecordControl(ctx, tx, a.Tenant, "member.role_change", "member:"+m.ID, before, m)
	})
	return m, err
}

// RemoveMember removes member memberID from caller's tenant, with their
// object grants and the API keys they made. The caller must hold every permission of the
// member's role, and the last owner stays.
func (id *Identity) RemoveMember(ctx context.Context, caller domain.Access, memberID string) error {
	return id.changeMember(ctx, caller, memberID, func(tx pgx.Tx, q *db.Queries, a domain.Access, current db.GetMembershipRow) (*AccessChange, error) {
		if current.Role == domain.RoleOwner {
			if err := requireAnotherOwner(ctx, q, a.Tenant); err != nil {
				return nil, err
			}
		}
		if err := q.DeleteMembership(ctx, db.DeleteMembershipParams{TenantID: pgUUID(a.Tenant.ID), ID: current.ID}); err != nil {
			return nil, fmt.Errorf("remove member: %w", err)
		}
		m := membershipFromRow(a.Tenant, current)
		if err := id.membersChanged(ctx, tx, a.Tenant); err != nil {
			return nil, err
		}
		// Their API keys go with them: those sockets have the member's user too.
		removed := &AccessChange{Tenant: a.Tenant.ID, User: m.UserID}
		return removed, RecordControl(ctx, tx, a.Tenant, "member.remove", "member:"+m.ID, m, nil)
	})
}

// changeMember runs fn on member memberID of caller's tenant in a
// transaction that holds the tenant's membership lock, with the caller's
// access read again under the lock, after checking that it holds
// everything the member's current role holds.
func (id *Identity) changeMember(ctx context.Context, caller domain.Access, memberID string, fn func(pgx.Tx, *db.Queries, domain.Access, db.GetMembershipRow) (*AccessChange, error)) error {
	notFound := domain.Errorf(domain.ENOTFOUND, "No member %s.", truncateSlug(memberID))
	member, ok := parseUUID(memberID)
	if !ok {
		return notFound
	}
	return id.inRevokingTx(ctx, func(tx pgx.Tx, q *db.Queries) (*AccessChange, error) {
		if err := q.LockTenantMemberships(ctx, pgUUID(caller.Tenant.ID)); err != nil {
			return nil, fmt.Errorf("lock memberships: %w", err)
		}
		// What the caller may do is read again under the lock: one demoted by a
		// concurrent request acts with what they hold now.
		a, err := freshAccess(ctx, q, caller)
		if err != nil {
			return nil, err
		}
		current, err := q.GetMembership(ctx, db.GetMembershipParams{TenantID: pgUUID(a.Tenant.ID), ID: member})
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, notFound
		}
		if err != nil {
			return nil, fmt.Errorf("look up member: %w", err)
		}
		perms, err := roleOf(ctx, q, a.Tenant, current.Role)
		if err != nil {
			return nil, err
		}
		if err := requireCovers(a, perms, "Changing a member with role "+current.Role); err != nil {
			return nil, err
		}
		return fn(tx, q, a, current)
	})
}

// freshAccess reads a's permissions again inside a transaction: the
// member's role now, or for an API key its role capped by its creator's role
// now. A principal no longer in the tenant gets ENOTFOUND.
func freshAccess(ctx context.Context, q *db.Queries, a domain.Access) (domain.Access, error) {
	if a.Principal.Superuser && a.Principal.APIKey == nil {
		return a, nil
	}
	row, err := q.GetMemberAccess(ctx, db.GetMemberAccessParams{TenantID: pgUUID(a.Tenant.ID), UserID: pgUUID(a.Principal.UserID)})
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Access{}, domain.Errorf(domain.ENOTFOUND, "no tenant %q", a.Tenant.Slug)
	}
	if err != nil {
		return domain.Access{}, fmt.Errorf("access: %w", err)
	}
	held := rolePermissions(row.Role, row.CustomPermissions)
	if a.Principal.APIKey != nil {
		a.Permissions = a.Permissions.Intersect(held)
		return a, nil
	}
	a.Role, a.Permissions = row.Role, held
	return a, nil
}

// requireAnotherOwner returns ECONFLICT when the tenant has one owner left.
// The caller holds the membership lock, so two owners cannot both leave.
func requireAnotherOwner(ctx context.Context, q *db.Queries, t domain.Tenant) error {
	n, err := q.CountOwners(ctx, pgUUID(t.ID))
	if err != nil {
		return fmt.Errorf("count owners: %w", err)
	}
	if n <= 1 {
		return domain.Errorf(domain.ECONFLICT, "The last owner of %s cannot be removed or demoted; make another member owner first.", t.Slug)
	}
	return nil
}

func membershipFromRow(t domain.Tenant, r db.GetMembershipRow) domain.Membership {
	return domain.Membership{
		ID: r.ID.String(), Tenant: t, UserID: r.UserID.String(), Email: r.Email, Name: r.Name,
		Role: r.Role, CreatedAt: r.CreatedAt.Time,
	}
}

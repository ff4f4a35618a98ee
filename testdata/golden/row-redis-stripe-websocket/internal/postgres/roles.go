package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/acme/shop-api/internal/domain"
	"github.com/acme/shop-api/internal/postgres/db"
)

// Roles returns tenant t's roles, built-in and custom, by name.
func (id *Identity) Roles(ctx context.Context, t domain.Tenant) ([]domain.Role, error) {
	rows, err := id.queries.ListCustomRoles(ctx, pgUUID(t.ID))
	if err != nil {
		return nil, fmt.Errorf("list roles: %w", err)
	}
	roles := make([]domain.Role, 0, len(rows)+len(domain.BuiltinRoles()))
	for _, name := range domain.BuiltinRoles() {
		roles = append(roles, domain.Role{Name: name, Permissions: domain.BuiltinPermissions(name), Builtin: true})
	}
	for _, r := range rows {
		roles = append(roles, domain.Role{ID: r.ID.String(), Name: r.Name, Permissions: rolePermissions(r.Name, r.Permissions)})
	}
	slices.SortFunc(roles, func(a, b domain.Role) int { return strings.Compare(a.Name, b.Name) })
	return roles, nil
}

// CreateRole adds a custom role to a's tenant from permissions of the
// catalogue, all of which a must hold.
func (id *Identity) CreateRole(ctx context.Context, a domain.Access, name string, permissions []string) (domain.Role, error) {
	if err := domain.ValidateRoleName(name); err != nil {
		return domain.Role{}, err
	}
	perms, parseErr := parsePermissions(permissions)
	if parseErr != nil {
		return domain.Role{}, parseErr
	}
	if err := requireCovers(a, perms, "A role with these permissions"); err != nil {
		return domain.Role{}, err
	}
	var role domain.Role
	err := id.inAuditedTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		if err := q.LockTenantMemberships(ctx, pgUUID(a.Tenant.ID)); err != nil {
			return fmt.Errorf("lock roles: %w", err)
		}
		n, err := q.CountCustomRoles(ctx, pgUUID(a.Tenant.ID))
		if err != nil {
			return fmt.Errorf("count roles: %w", err)
		}
		if n >= domain.CustomRolesMax {
			return domain.Errorf(domain.ECONFLICT, "A tenant has at most %d custom roles.", domain.CustomRolesMax)
		}
		row, err := q.InsertRole(ctx, db.InsertRoleParams{TenantID: pgUUID(a.Tenant.ID), Name: name, Permissions: perms.Strings()})
		if errors.Is(err, pgx.ErrNoRows) {
			return domain.Errorf(domain.ECONFLICT, "Role %q exists.", name)
		}
		if err != nil {
			return fmt.Errorf("create role: %w", err)
		}
		role = domain.Role{ID: row.ID.String(), Name: row.Name, Permissions: perms}
		return RecordControl(ctx, tx, a.Tenant, "role.create", "role:"+role.ID, nil, role)
	})
	return role, err
}

// UpdateRole replaces the permissions of custom role name of a's tenant
// with permissions of the catalogue. a must hold every permission of the
// role as it is and as it will be; built-in roles never change. Every
// holder acts with the new permissions from their next request.
func (id *Identity) UpdateRole(ctx context.Context, caller domain.Access, name string, permissions []string) (domain.Role, error) {
	if domain.IsBuiltinRole(name) {
		return domain.Role{}, errBuiltinRole(name)
	}
	perms, parseErr := parsePermissions(permissions)
	if parseErr != nil {
		return domain.Role{}, parseErr
	}
	var role domain.Role
	err := id.changeRole(ctx, caller, name, func(tx pgx.Tx, q *db.Queries, a domain.Access, before domain.Role) error {
		if err := requireCovers(a, perms, "A role with these permissions"); err != nil {
			return err
		}
		row, err := q.UpdateRolePermissions(ctx, db.UpdateRolePermissionsParams{TenantID: pgUUID(a.Tenant.ID), Name: name, Permissions: perms.Strings()})
		if err != nil {
			return fmt.Errorf("update role: %w", err)
		}
		role = domain.Role{ID: row.ID.String(), Name: row.Name, Permissions: perms}
		return RecordControl(ctx, tx, a.Tenant, "role.update", "role:"+role.ID, before, role)
	})
	return role, err
}

// DeleteRole deletes custom role name of a's tenant, with the object grants
// given to it. a must hold every permission of the role. A role still held
// by a member, a live API key or a pending invitation stays (ECONFLICT):
// no one is left holding a role that does not exist.
func (id *Identity) DeleteRole(ctx context.Context, caller domain.Access, name string) error {
	if domain.IsBuiltinRole(name) {
		return errBuiltinRole(name)
	}
	return id.changeRole(ctx, caller, name, func(tx pgx.Tx, q *db.Queries, a domain.Access, before domain.Role) error {
		holders, err := q.CountRoleHolders(ctx, db.CountRoleHoldersParams{TenantID: pgUUID(a.Tenant.ID), Role: name})
		if err != nil {
			return fmt.Errorf("count role holders: %w", err)
		}
		if err := requireNoHolders(name, holders); err != nil {
			return err
		}
		if _, err := q.DeleteRoleGrants(ctx, db.DeleteRoleGrantsParams{TenantID: pgUUID(a.Tenant.ID), Role: pgtype.Text{String: name, Valid: true}}); err != nil {
			return fmt.Errorf("delete role grants: %w", err)
		}
		if _, err := q.DeleteRole(ctx, db.DeleteRoleParams{TenantID: pgUUID(a.Tenant.ID), Name: name}); err != nil {
			return fmt.Errorf("delete role: %w", err)
		}
		return RecordControl(ctx, tx, a.Tenant, "role.delete", "role:"+before.ID, before, nil)
	})
}

// changeRole runs fn on custom role name of caller's tenant in a
// transaction holding the tenant's membership lock (no invitation, API key
// or role change names the role meanwhile), with the caller's access read
// again under the lock, after checking that it holds every permission of
// the role. Every holder of the role re-checks their access once it
// committed.
func (id *Identity) changeRole(ctx context.Context, caller domain.Access, name string, fn func(pgx.Tx, *db.Queries, domain.Access, domain.Role) error) error {
	return id.inRevokingTx(ctx, func(tx pgx.Tx, q *db.Queries) (*AccessChange, error) {
		if err := q.LockTenantMemberships(ctx, pgUUID(caller.Tenant.ID)); err != nil {
			return nil, fmt.Errorf("lock memberships: %w", err)
		}
		a, err := freshAccess(ctx, q, caller)
		if err != nil {
			return nil, err
		}
		row, err := q.GetCustomRole(ctx, db.GetCustomRoleParams{TenantID: pgUUID(a.Tenant.ID), Name: name})
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, domain.Errorf(domain.ENOTFOUND, "No role %q in %s.", truncateSlug(name), a.Tenant.Slug)
		}
		if err != nil {
			return nil, fmt.Errorf("look up role: %w", err)
		}
		current := domain.Role{ID: row.ID.String(), Name: row.Name, Permissions: rolePermissions(row.Name, row.Permissions)}
		if err := requireCovers(a, current.Permissions, "Changing role "+name); err != nil {
			return nil, err
		}
		if err := fn(tx, q, a, current); err != nil {
			return nil, err
		}
		return &AccessChange{Tenant: a.Tenant.ID}, nil
	})
}

// errBuiltinRole refuses changing or deleting a built-in role.
func errBuiltinRole(name string) error {
	return domain.Errorf(domain.ECONFLICT, "Built-in role %q cannot be changed or deleted; create a custom role with the permissions you need instead.", name)
}

// requireNoHolders returns ECONFLICT, saying who holds role and what to do,
// while anyone does.
func requireNoHolders(role string, h db.CountRoleHoldersRow) error {
	if h.Members == 0 && h.ApiKeys == 0 && h.Invitations == 0 {
		return nil
	}
	var held, steps []string
	if h.Members > 0 {
		held = append(held, plural(h.Members, "member", "members"))
		steps = append(steps, "give those members another role")
	}
	if h.ApiKeys > 0 {
		held = append(held, plural(h.ApiKeys, "API key", "API keys"))
		steps = append(steps, "revoke those API keys")
	}
	if h.Invitations > 0 {
		held = append(held, plural(h.Invitations, "pending invitation", "pending invitations"))
		steps = append(steps, "revoke those invitations")
	}
	return domain.Errorf(domain.ECONFLICT, "Role %q is still held by %s: %s first.", role, strings.Join(held, ", "), strings.Join(steps, ", "))
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// parsePermissions returns the set of permissions, each of which must be
// in the catalogue (EINVALID naming the first that is not).
func parsePermissions(permissions []string) (domain.Permissions, error) {
	ps := make([]domain.Permission, 0, len(permissions))
	for _, s := range permissions {
		p, err := domain.ParsePermission(s)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return domain.NewPermissions(ps...), nil
}

// Grant gives perm on object objectID of a's tenant to the member userID or
// to role (exactly one of them). a must hold perm itself; the user must be a
// member of the tenant and the role one of its roles. Whether the object
// exists is the caller's to check: the store does not know tenant data.
func (id *Identity) Grant(ctx context.Context, a domain.Access, perm domain.Permission, objectID, userID, role string) (domain.Grant, error) {
	if (userID == "") == (role == "") {
		return domain.Grant{}, domain.Errorf(domain.EINVALID, "Name exactly one grantee: user_id or role.")
	}
	if err := requireCovers(a, domain.NewPermissions(perm), "Granting "+string(perm)); err != nil {
		return domain.Grant{}, err
	}
	object, ok := parseUUID(objectID)
	if !ok {
		return domain.Grant{}, domain.Errorf(domain.EINVALID, "object_id must be a UUID.")
	}
	params := db.InsertGrantParams{
		TenantID:   pgUUID(a.Tenant.ID),
		Permission: string(perm),
		ObjectID:   object,
		CreatedBy:  pgUUID(a.Principal.UserID),
	}
	notMember := domain.Errorf(domain.EINVALID, "User %s is not a member of %s.", truncateSlug(userID), a.Tenant.Slug)
	if userID != "" {
		user, ok := parseUUID(userID)
		if !ok {
			return domain.Grant{}, notMember
		}
		params.UserID = user
	} else {
		params.Role = pgtype.Text{String: role, Valid: true}
	}
	var row db.ObjectGrant
	err := id.inAuditedTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		var err error
		if role != "" {
			// Under the membership lock, so the role cannot be deleted
			// between being read here and the grant naming it.
			if err = q.LockTenantMemberships(ctx, pgUUID(a.Tenant.ID)); err != nil {
				return fmt.Errorf("lock memberships: %w", err)
			}
			if _, err = roleOf(ctx, q, a.Tenant, role); err != nil {
				return err
			}
		}
		if row, err = q.InsertGrant(ctx, params); err != nil {
			return err
		}
		g := grantFromRow(row)
		return RecordControl(ctx, tx, a.Tenant, "grant.create", "grant:"+g.ID, nil, g)
	})
	switch {
	case domain.ErrorCode(err) == domain.EINVALID:
		return domain.Grant{}, err
	case isForeignKeyViolation(err):
		// The grant references the membership of (tenant, user).
		return domain.Grant{}, notMember
	case errors.Is(err, pgx.ErrNoRows):
		return domain.Grant{}, domain.Errorf(domain.ECONFLICT, "This grant exists.")
	case err != nil:
		return domain.Grant{}, fmt.Errorf("grant: %w", err)
	}
	return grantFromRow(row), nil
}

// Grants pages through tenant t's object grants in creation order, all of
// them or those on one object.
func (id *Identity) Grants(ctx context.Context, t domain.Tenant, objectID string, after domain.Position, limit int) ([]domain.Grant, error) {
	afterAt, afterID := keyset(after)
	params := db.ListGrantsParams{TenantID: pgUUID(t.ID), AfterCreatedAt: afterAt, AfterID: afterID, MaxItems: clampLimit(limit)}
	if objectID != "" {
		object, ok := parseUUID(objectID)
		if !ok {
			return nil, domain.Errorf(domain.EINVALID, "object_id must be a UUID.")
		}
		params.ObjectID = object
	}
	rows, err := id.queries.ListGrants(ctx, params)
	if err != nil {
		return nil, fmt.Errorf("list grants: %w", err)
	}
	out := make([]domain.Grant, len(rows))
	for i := range rows {
		out[i] = grantFromRow(rows[i])
	}
	return out, nil
}

// Revoke deletes grant grantID of tenant t; the next request no longer has it.
func (id *Identity) Revoke(ctx context.Context, t domain.Tenant, grantID string) error {
	notFound := domain.Errorf(domain.ENOTFOUND, "No grant %s.", truncateSlug(grantID))
	grant, ok := parseUUID(grantID)
	if !ok {
		return notFound
	}
	err := id.inAuditedTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		n, err := q.DeleteGrant(ctx, db.DeleteGrantParams{TenantID: pgUUID(t.ID), ID: grant})
		if err != nil {
			return fmt.Errorf("revoke grant: %w", err)
		}
		if n == 0 {
			return notFound
		}
		return RecordControl(ctx, tx, t, "grant.revoke", "grant:"+grant.String(), nil, nil)
	})
	if err != nil {
		return err
	}
	return nil
}

func grantFromRow(r db.ObjectGrant) domain.Grant {
	g := domain.Grant{ID: r.ID.String(), Permission: domain.Permission(r.Permission), ObjectID: r.ObjectID.String(), Role: r.Role.String, CreatedAt: r.CreatedAt.Time}
	if r.UserID.Valid {
		g.UserID = r.UserID.String()
	}
	return g
}

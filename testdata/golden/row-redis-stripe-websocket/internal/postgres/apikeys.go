package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/acme/shop-api/internal/auth"
	"github.com/acme/shop-api/internal/domain"
	"github.com/acme/shop-api/internal/postgres/db"
)

// CreateAPIKey makes an API key for a's tenant with role, which a must
// hold every permission of, and returns it with its secret: the only time
// the secret exists outside the caller's hands, as only its hash is kept.
// The key belongs to the member who made it (for a key made with a key, to
// that key's member): it never does more than they may, and it goes when
// they leave the tenant.
//
// A superuser's powers are their own and are not handed on: a superuser
// makes keys as the member they are, up to their membership's role, and
// one who is not a member of the tenant makes none (EFORBIDDEN), since a
// key without a member behind it would never authenticate.
func (id *Identity) CreateAPIKey(ctx context.Context, a domain.Access, name, role string) (domain.APIKey, string, error) {
	if err := domain.ValidateAPIKeyName(name); err != nil {
		return domain.APIKey{}, "", err
	}
	if a.Principal.Superuser && a.Principal.APIKey == nil {
		var err error
		a, err = id.membershipOf(ctx, a)
		if err != nil {
			return domain.APIKey{}, "", err
		}
	}
	secret := auth.NewToken(auth.APIKeyPrefix)
	var row db.ApiKey
	err := id.inAuditedTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		// Under the membership lock, so the role cannot be deleted between
		// being read here and the key naming it.
		if err := q.LockTenantMemberships(ctx, pgUUID(a.Tenant.ID)); err != nil {
			return fmt.Errorf("lock memberships: %w", err)
		}
		perms, err := roleOf(ctx, q, a.Tenant, role)
		if err != nil {
			return err
		}
		if err := requireCovers(a, perms, "An API key with role "+role); err != nil {
			return err
		}
		var insertErr error
		row, insertErr = q.InsertAPIKey(ctx, db.InsertAPIKeyParams{
			TenantID:  pgUUID(a.Tenant.ID),
			Name:      name,
			Role:      role,
			Prefix:    auth.VisiblePrefix(secret),
			KeyHash:   auth.HashToken(secret),
			CreatedBy: pgUUID(a.Principal.UserID),
		})
		if insertErr != nil {
			return insertErr
		}
		k := apiKeyFromRow(row) // never the secret or its hash
		return RecordControl(ctx, tx, a.Tenant, "api_key.create", "api_key:"+k.ID, nil, k)
	})
	if isForeignKeyViolation(err) {
		return domain.APIKey{}, "", domain.Errorf(domain.EFORBIDDEN, "Only members of %s can make its API keys.", a.Tenant.Slug)
	}
	if err != nil {
		return domain.APIKey{}, "", fmt.Errorf("create API key: %w", err)
	}
	return apiKeyFromRow(row), secret, nil
}

// membershipOf returns a with the role and permissions its user holds as
// a member of its tenant, setting aside what being a superuser gives. A
// user who is not a member gets EFORBIDDEN.
func (id *Identity) membershipOf(ctx context.Context, a domain.Access) (domain.Access, error) {
	row, err := id.queries.GetMemberAccess(ctx, db.GetMemberAccessParams{TenantID: pgUUID(a.Tenant.ID), UserID: pgUUID(a.Principal.UserID)})
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Access{}, domain.Errorf(domain.EFORBIDDEN,
			"An API key acts for a member of its tenant, and you are not a member of %s: being a superuser is not handed on to keys. Join the tenant first.", a.Tenant.Slug)
	}
	if err != nil {
		return domain.Access{}, fmt.Errorf("look up membership: %w", err)
	}
	a.Role, a.Permissions = row.Role, rolePermissions(row.Role, row.CustomPermissions)
	return a, nil
}

// APIKeys pages through tenant t's live API keys in creation order.
func (id *Identity) APIKeys(ctx context.Context, t domain.Tenant, after domain.Position, limit int) ([]domain.APIKey, error) {
	afterAt, afterID := keyset(after)
	rows, err := id.queries.ListAPIKeys(ctx, db.ListAPIKeysParams{TenantID: pgUUID(t.ID), AfterCreatedAt: afterAt, AfterID: afterID, MaxItems: clampLimit(limit)})
	if err != nil {
		return nil, fmt.Errorf("list API keys: %w", err)
	}
	out := make([]domain.APIKey, len(rows))
	for i := range rows {
		out[i] = apiKeyFromRow(rows[i])
	}
	return out, nil
}

// RevokeAPIKey revokes key keyID of tenant t: from the next request on it
// authenticates nobody, and the sockets it opened close.
func (id *Identity) RevokeAPIKey(ctx context.Context, t domain.Tenant, keyID string) error {
	notFound := domain.Errorf(domain.ENOTFOUND, "No API key %s.", truncateSlug(keyID))
	key, ok := parseUUID(keyID)
	if !ok {
		return notFound
	}
	return id.inRevokingTx(ctx, func(tx pgx.Tx, q *db.Queries) (*AccessChange, error) {
		n, err := q.RevokeAPIKey(ctx, db.RevokeAPIKeyParams{TenantID: pgUUID(t.ID), ID: key})
		if err != nil {
			return nil, fmt.Errorf("revoke API key: %w", err)
		}
		if n == 0 {
			return nil, notFound
		}
		revoked := &AccessChange{Tenant: t.ID, APIKeyID: key.String()}
		return revoked, RecordControl(ctx, tx, t, "api_key.revoke", "api_key:"+key.String(), nil, nil)
	})
}

func apiKeyFromRow(r db.ApiKey) domain.APIKey {
	return domain.APIKey{ID: r.ID.String(), Name: r.Name, Role: r.Role, Prefix: r.Prefix, CreatedAt: r.CreatedAt.Time}
}

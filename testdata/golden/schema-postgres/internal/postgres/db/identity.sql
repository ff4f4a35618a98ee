-- Identity queries: users, sessions, memberships, custom roles,
-- invitations, object grants, API keys and sign-in throttling. Every query
-- on tenant-owned rows names the tenant.

-- name: InsertUser :one
-- No row comes back when the email is taken.
INSERT INTO users (email, name, password_hash, superuser)
VALUES (@email, @name, @password_hash, @superuser)
ON CONFLICT (email) DO NOTHING
RETURNING *;

-- name: GetUser :one
SELECT *
FROM users
WHERE id = @id;

-- name: GetUserByEmail :one
SELECT *
FROM users
WHERE email = @email;

-- name: UpdatePasswordHash :exec
UPDATE users
SET password_hash = @password_hash
WHERE id = @id;

-- name: InsertSession :exec
INSERT INTO sessions (token_hash, user_id, expires_at)
VALUES (@token_hash, @user_id, @expires_at);

-- name: DeleteSession :one
DELETE FROM sessions
WHERE token_hash = @token_hash
RETURNING user_id;

-- name: DeleteExpiredSessions :exec
DELETE FROM sessions
WHERE user_id = @user_id AND expires_at <= now();

-- name: GetSessionUser :one
-- The user a live session token belongs to: what a request needs of them
-- (never the password hash, which only signing in reads).
SELECT u.id, u.superuser
FROM sessions s
JOIN users u ON u.id = s.user_id
WHERE s.token_hash = @token_hash AND s.expires_at > now();

-- name: GetSessionAccess :one
-- GetSessionUser and GetMemberAccess in one round trip: the user a live
-- session token belongs to and their role in tenant @tenant_id, with the
-- role's custom permissions (member_role NULL when they are not a member),
-- and whether that tenant is served (tenant_active is false once it was
-- suspended or deleted, whatever a cache still says).
SELECT u.id AS user_id, u.superuser, m.role AS member_role, r.permissions AS custom_permissions,
       (t.id IS NOT NULL)::boolean AS tenant_active
FROM sessions s
JOIN users u ON u.id = s.user_id
LEFT JOIN tenants t ON t.id = @tenant_id AND t.state = 'active'
LEFT JOIN memberships m ON m.tenant_id = t.id AND m.user_id = u.id
LEFT JOIN roles r ON r.tenant_id = m.tenant_id AND r.name = m.role
WHERE s.token_hash = @token_hash AND s.expires_at > now();

-- name: GetMemberAccess :one
-- A user's role in a tenant, with the permissions of the role when it is a
-- custom one (NULL for a built-in role).
SELECT m.id, m.role, r.permissions AS custom_permissions
FROM memberships m
LEFT JOIN roles r ON r.tenant_id = m.tenant_id AND r.name = m.role
WHERE m.tenant_id = @tenant_id AND m.user_id = @user_id;

-- name: GetTenantAccess :one
-- GetMemberAccess for a request: no row when tenant @tenant_id is not
-- served (suspended or deleted, whatever a cache still says), and
-- member_role NULL when the user is not a member of it.
SELECT m.role AS member_role, r.permissions AS custom_permissions
FROM tenants t
LEFT JOIN memberships m ON m.tenant_id = t.id AND m.user_id = @user_id
LEFT JOIN roles r ON r.tenant_id = m.tenant_id AND r.name = m.role
WHERE t.id = @tenant_id AND t.state = 'active';

-- name: GetAPIKeyAccess :one
-- A live API key, its role and the role its creator holds now in the key's
-- tenant (the key never does more than its creator may), each with its
-- custom permissions (NULL for a built-in role). The creator's membership
-- is required: a key goes with it. The tenant's slug lets a key's requests
-- name no tenant; tenant_active is false once it was suspended.
SELECT k.id, k.tenant_id, t.slug AS tenant_slug, t.state = 'active' AS tenant_active, k.role,
       kr.permissions AS key_custom_permissions,
       m.role AS creator_role,
       cr.permissions AS creator_custom_permissions,
       m.user_id AS creator_id
FROM api_keys k
JOIN tenants t ON t.id = k.tenant_id
JOIN memberships m ON m.tenant_id = k.tenant_id AND m.user_id = k.created_by
LEFT JOIN roles kr ON kr.tenant_id = k.tenant_id AND kr.name = k.role
LEFT JOIN roles cr ON cr.tenant_id = k.tenant_id AND cr.name = m.role
WHERE k.key_hash = @key_hash AND k.revoked_at IS NULL;

-- name: GetActiveTenant :one
SELECT *
FROM tenants
WHERE id = @id AND state = 'active';

-- name: InsertMembership :one
INSERT INTO memberships (tenant_id, user_id, role)
VALUES (@tenant_id, @user_id, @role)
RETURNING *;

-- name: LockTenantMemberships :exec
-- Serialises changes to one tenant's memberships (the last-owner rule reads
-- then writes) without blocking anything that only references the tenant.
SELECT id
FROM tenants
WHERE id = @tenant_id
FOR NO KEY UPDATE;

-- name: CountInvitationSent :one
-- Counts one more invitation sent by the tenant today (UTC) and returns
-- today's count; its transaction rolling back takes the count back.
-- Earlier days' counts are not needed again and go on the way.
WITH forgotten AS (
    DELETE FROM invitation_counts
    WHERE tenant_id = @tenant_id AND day < (now() AT TIME ZONE 'UTC')::date
)
INSERT INTO invitation_counts (tenant_id, day, sent)
VALUES (@tenant_id, (now() AT TIME ZONE 'UTC')::date, 1)
ON CONFLICT (tenant_id, day) DO UPDATE SET sent = invitation_counts.sent + 1
RETURNING sent;

-- name: CountOwnedTenants :one
-- The tenants a user owns, in any state.
SELECT count(*)::bigint FROM memberships WHERE user_id = @user_id AND role = 'owner';

-- name: CountSeats :one
-- A tenant's members, and its invitations that can still be accepted: the
-- seats taken and promised, which a plan's seat limit caps.
SELECT (SELECT count(*) FROM memberships m WHERE m.tenant_id = @tenant_id)::bigint AS members,
       (SELECT count(*) FROM invitations i WHERE i.tenant_id = @tenant_id
          AND i.accepted_at IS NULL AND i.expires_at > now())::bigint AS pending;

-- name: ListMemberships :many
-- Keyset pagination in joining order.
SELECT m.id, m.user_id, u.email, u.name, m.role, m.created_at
FROM memberships m
JOIN users u ON u.id = m.user_id
WHERE m.tenant_id = @tenant_id
  AND (m.created_at, m.id) > (@after_created_at::timestamptz, @after_id::uuid)
ORDER BY m.created_at, m.id
LIMIT @max_items;

-- name: GetMembership :one
SELECT m.id, m.user_id, u.email, u.name, m.role, m.created_at
FROM memberships m
JOIN users u ON u.id = m.user_id
WHERE m.tenant_id = @tenant_id AND m.id = @id;

-- name: CountOwners :one
SELECT count(*)
FROM memberships
WHERE tenant_id = @tenant_id AND role = 'owner';

-- name: UpdateMembershipRole :exec
UPDATE memberships
SET role = @role
WHERE tenant_id = @tenant_id AND id = @id;

-- name: DeleteMembership :exec
-- Cascades to the member's object grants and API keys.
DELETE FROM memberships
WHERE tenant_id = @tenant_id AND id = @id;

-- name: ListUserMemberships :many
-- Every active tenant a user belongs to, by slug.
SELECT sqlc.embed(t), m.role
FROM memberships m
JOIN tenants t ON t.id = m.tenant_id
WHERE m.user_id = @user_id AND t.state = 'active'
ORDER BY t.slug;

-- name: ListUserTenants :many
-- Keyset pagination by slug of the active tenants a user belongs to.
SELECT t.*
FROM memberships m
JOIN tenants t ON t.id = m.tenant_id
WHERE m.user_id = @user_id AND t.state = 'active' AND t.slug > @after_slug
ORDER BY t.slug
LIMIT @max_items;

-- name: ListCustomRoles :many
SELECT *
FROM roles
WHERE tenant_id = @tenant_id
ORDER BY name;

-- name: GetCustomRole :one
SELECT *
FROM roles
WHERE tenant_id = @tenant_id AND name = @name;

-- name: CountCustomRoles :one
SELECT count(*)
FROM roles
WHERE tenant_id = @tenant_id;

-- name: InsertRole :one
-- No row comes back when the name is taken.
INSERT INTO roles (tenant_id, name, permissions)
VALUES (@tenant_id, @name, @permissions)
ON CONFLICT (tenant_id, name) DO NOTHING
RETURNING *;

-- name: UpdateRolePermissions :one
UPDATE roles
SET permissions = @permissions
WHERE tenant_id = @tenant_id AND name = @name
RETURNING *;

-- name: CountRoleHolders :one
-- Who still holds a custom role: members, live API keys and invitations
-- that can still be accepted.
SELECT (SELECT count(*) FROM memberships m WHERE m.tenant_id = @tenant_id AND m.role = @role)::bigint AS members,
       (SELECT count(*) FROM api_keys k WHERE k.tenant_id = @tenant_id AND k.role = @role AND k.revoked_at IS NULL)::bigint AS api_keys,
       (SELECT count(*) FROM invitations i WHERE i.tenant_id = @tenant_id AND i.role = @role
            AND i.accepted_at IS NULL AND i.expires_at > now())::bigint AS invitations;

-- name: DeleteRoleGrants :execrows
DELETE FROM object_grants
WHERE tenant_id = @tenant_id AND role = @role;

-- name: DeleteRole :execrows
DELETE FROM roles
WHERE tenant_id = @tenant_id AND name = @name;

-- name: InsertInvitation :one
INSERT INTO invitations (tenant_id, email, role, token_hash, invited_by, expires_at)
VALUES (@tenant_id, @email, @role, @token_hash, @invited_by, @expires_at)
RETURNING *;

-- name: ClaimInvitation :one
-- Uses up a live invitation for the email it was sent to; no row comes back
-- for an unknown, expired, used or someone else's token.
UPDATE invitations
SET accepted_at = now(), accepted_by = @user_id
WHERE token_hash = @token_hash AND email = @email
  AND accepted_at IS NULL AND expires_at > now()
RETURNING *;

-- name: ListPendingInvitations :many
-- Keyset pagination in creation order of the invitations that can still be
-- accepted; never their token hashes.
SELECT id, email, role, invited_by, created_at, expires_at
FROM invitations
WHERE tenant_id = @tenant_id AND accepted_at IS NULL AND expires_at > now()
  AND (created_at, id) > (@after_created_at::timestamptz, @after_id::uuid)
ORDER BY created_at, id
LIMIT @max_items;

-- name: DeletePendingInvitation :one
-- Revokes an invitation that can still be accepted: its token then answers
-- like any dead one. No row comes back for an unknown, used or expired one.
DELETE FROM invitations
WHERE tenant_id = @tenant_id AND id = @id AND accepted_at IS NULL AND expires_at > now()
RETURNING id, email, role, invited_by, created_at, expires_at;

-- name: GetPendingInvitation :one
SELECT id, email, role, invited_by, created_at, expires_at
FROM invitations
WHERE tenant_id = @tenant_id AND id = @id AND accepted_at IS NULL AND expires_at > now();

-- name: InsertGrant :one
-- No row comes back when the same grant exists.
INSERT INTO object_grants (tenant_id, permission, object_id, user_id, role, created_by)
VALUES (@tenant_id, @permission, @object_id, sqlc.narg('user_id'), sqlc.narg('role'), @created_by)
ON CONFLICT DO NOTHING
RETURNING *;

-- name: ListGrants :many
-- Keyset pagination in creation order, optionally for one object.
SELECT *
FROM object_grants
WHERE tenant_id = @tenant_id
  AND (sqlc.narg('object_id')::uuid IS NULL OR object_id = sqlc.narg('object_id')::uuid)
  AND (created_at, id) > (@after_created_at::timestamptz, @after_id::uuid)
ORDER BY created_at, id
LIMIT @max_items;

-- name: DeleteGrant :execrows
DELETE FROM object_grants
WHERE tenant_id = @tenant_id AND id = @id;

-- name: HasGrant :one
-- Whether a user, or the role they act in, holds permission on the object.
SELECT EXISTS (
    SELECT 1
    FROM object_grants
    WHERE tenant_id = @tenant_id AND object_id = @object_id AND permission = @permission
      AND (user_id = sqlc.narg('user_id')::uuid OR role = @role)
);

-- name: InsertAPIKey :one
INSERT INTO api_keys (tenant_id, name, role, prefix, key_hash, created_by)
VALUES (@tenant_id, @name, @role, @prefix, @key_hash, @created_by)
RETURNING *;

-- name: ListAPIKeys :many
-- Keyset pagination in creation order of the live keys.
SELECT *
FROM api_keys
WHERE tenant_id = @tenant_id AND revoked_at IS NULL
  AND (created_at, id) > (@after_created_at::timestamptz, @after_id::uuid)
ORDER BY created_at, id
LIMIT @max_items;

-- name: RevokeAPIKey :execrows
UPDATE api_keys
SET revoked_at = now()
WHERE tenant_id = @tenant_id AND id = @id AND revoked_at IS NULL;

-- name: HitThrottle :one
-- Counts one attempt against key in a fixed window of @window_length, starting a
-- new window when the last one is over. account names the account the
-- counter is about, if any.
INSERT INTO auth_throttle AS a (key, window_start, hits, account)
VALUES (@key, now(), 1, sqlc.narg('account'))
ON CONFLICT (key) DO UPDATE
SET window_start = CASE WHEN a.window_start + @window_length::interval <= now() THEN now() ELSE a.window_start END,
    hits = CASE WHEN a.window_start + @window_length::interval <= now() THEN 1 ELSE a.hits + 1 END
RETURNING hits, window_start;

-- name: UnhitThrottle :exec
-- Takes back an attempt HitThrottle counted in the window starting at
-- @window_start; nothing when that window is over.
UPDATE auth_throttle
SET hits = greatest(hits - 1, 0)
WHERE key = @key AND window_start = @window_start;

-- name: ResetThrottle :exec
DELETE FROM auth_throttle
WHERE key = @key;

-- name: ResetAccountThrottles :exec
-- Clears every counter about an account.
DELETE FROM auth_throttle
WHERE account = @account;

-- name: DeleteStaleThrottles :exec
DELETE FROM auth_throttle
WHERE window_start < @before;

-- name: IsKnownClient :one
SELECT EXISTS (
    SELECT 1
    FROM auth_known_clients
    WHERE account = @account AND client = @client AND last_seen > @since
);

-- name: RecordKnownClient :exec
INSERT INTO auth_known_clients (account, client, last_seen)
VALUES (@account, @client, now())
ON CONFLICT (account, client) DO UPDATE
SET last_seen = now();

-- name: DeleteKnownClients :exec
-- Forgets every client of an account.
DELETE FROM auth_known_clients
WHERE account = @account;

-- name: DeleteStaleKnownClients :exec
DELETE FROM auth_known_clients
WHERE last_seen < @before;

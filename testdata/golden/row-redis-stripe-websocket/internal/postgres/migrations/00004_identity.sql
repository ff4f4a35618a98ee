-- Identity, in the control plane: who people are (users, their sessions),
-- where they belong (memberships, invitations), what they may do there
-- (custom roles, object grants) and the programs acting for a tenant (API
-- keys). Every tenant-owned row carries tenant_id and goes when its tenant
-- goes. Secrets are never stored: passwords as argon2id hashes, tokens and
-- keys as SHA-256 hashes.

-- +goose Up
CREATE TABLE users (
    id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    -- Normalised (trimmed, lower-case) by the application; unique as stored.
    email         text        NOT NULL UNIQUE CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
    name          text        NOT NULL CHECK (name <> '' AND length(name) <= 100),
    -- argon2id in the PHC string format; never the password itself.
    password_hash text        NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    superuser     boolean     NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- Bearer tokens of signed-in users, by the SHA-256 of the token.
CREATE TABLE sessions (
    token_hash bytea       PRIMARY KEY CHECK (length(token_hash) = 32),
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);

CREATE INDEX sessions_user ON sessions (user_id, expires_at);

-- Custom roles; the built-in ones (owner, admin, member, viewer) are the
-- application's and have no rows.
CREATE TABLE roles (
    id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id   uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name        text        NOT NULL CHECK (name ~ '^[a-z][a-z0-9]*(-[a-z0-9]+)*$' AND length(name) BETWEEN 2 AND 40
                                            AND name NOT IN ('owner', 'admin', 'member', 'viewer')),
    permissions text[]      NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name)
);

CREATE TABLE memberships (
    id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id  uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- A built-in role or the name of one of the tenant's custom roles.
    role       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, user_id)
);

CREATE INDEX memberships_user ON memberships (user_id);
CREATE INDEX memberships_tenant_created ON memberships (tenant_id, created_at, id);

CREATE TABLE invitations (
    id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id   uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    email       text        NOT NULL CHECK (email = lower(email)),
    role        text        NOT NULL,
    token_hash  bytea       NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    invited_by  uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    accepted_at timestamptz,
    accepted_by uuid        REFERENCES users (id) ON DELETE SET NULL
);

CREATE INDEX invitations_tenant ON invitations (tenant_id);

-- One permission on one object for one user or one role. A user grant
-- references the membership, so only members can hold one and it goes
-- when they leave.
CREATE TABLE object_grants (
    id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id  uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    permission text        NOT NULL,
    object_id  uuid        NOT NULL,
    user_id    uuid,
    role       text,
    created_by uuid        REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((user_id IS NULL) <> (role IS NULL)),
    FOREIGN KEY (tenant_id, user_id) REFERENCES memberships (tenant_id, user_id) ON DELETE CASCADE
);

CREATE UNIQUE INDEX object_grants_user ON object_grants (tenant_id, object_id, permission, user_id) WHERE user_id IS NOT NULL;
CREATE UNIQUE INDEX object_grants_role ON object_grants (tenant_id, object_id, permission, role) WHERE role IS NOT NULL;
CREATE INDEX object_grants_tenant_created ON object_grants (tenant_id, created_at, id);

-- Keys for programs, by the SHA-256 of the key; prefix is the part shown
-- in lists. A key acts with its role, capped by what its creator may still
-- do in the tenant, and goes with its creator's membership.
CREATE TABLE api_keys (
    id         uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id  uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name       text        NOT NULL CHECK (name <> '' AND length(name) <= 100),
    role       text        NOT NULL,
    prefix     text        NOT NULL,
    key_hash   bytea       NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    created_by uuid        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz,
    FOREIGN KEY (tenant_id, created_by) REFERENCES memberships (tenant_id, user_id) ON DELETE CASCADE
);

CREATE INDEX api_keys_tenant_created ON api_keys (tenant_id, created_at, id);

-- Fixed-window counters of sign-in and sign-up attempts, per account and per
-- client address, shared by every instance of the app. Keys are hashes.
CREATE TABLE auth_throttle (
    key          text        PRIMARY KEY,
    window_start timestamptz NOT NULL,
    hits         integer     NOT NULL
);

-- +goose Down
DROP TABLE auth_throttle;
DROP TABLE api_keys;
DROP TABLE object_grants;
DROP TABLE invitations;
DROP TABLE memberships;
DROP TABLE roles;
DROP TABLE sessions;
DROP TABLE users;

-- Invitations a tenant sent, per UTC day: revoked invitations are deleted,
-- so the pending cap alone would let a tenant send without end by revoking
-- and inviting again. MAX_INVITATIONS_PER_DAY caps this count.

-- +goose Up
CREATE TABLE invitation_counts (
    tenant_id uuid   NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    day       date   NOT NULL,
    sent      bigint NOT NULL CHECK (sent > 0),
    PRIMARY KEY (tenant_id, day)
);

-- +goose Down
DROP TABLE invitation_counts;

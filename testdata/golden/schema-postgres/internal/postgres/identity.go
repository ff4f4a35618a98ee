package postgres

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"example.com/acme/internal/auth"
	"example.com/acme/internal/domain"
	"example.com/acme/internal/postgres/db"
)

// Identity defaults; IdentityOptions overrides them.
const (
	DefaultSessionTTL       = 24 * time.Hour
	DefaultInvitationTTL    = 7 * 24 * time.Hour
	DefaultPasswordResetTTL = time.Hour
	DefaultVerificationTTL  = 7 * 24 * time.Hour
	// DefaultAppURL is where the front end runs in local development.
	DefaultAppURL = "http://localhost:3000"
)

// PasswordHasher hashes and verifies passwords: auth.Hasher.
type PasswordHasher interface {
	// Hash returns the hash of password to store.
	Hash(ctx context.Context, password string) (string, error)
	// Verify reports whether password matches encoded, and whether encoded
	// should be replaced by a new Hash.
	Verify(ctx context.Context, password, encoded string) (ok, rehash bool, err error)
	// Decoy returns a hash of a password nobody knows, as costly to verify
	// as a stored one.
	Decoy() string
}

// IdentityOptions configures NewIdentity. Hasher is required.
type IdentityOptions struct {
	// Hasher hashes passwords; its parameters are the ones logins upgrade to.
	Hasher PasswordHasher
	// Mail queues invitations and sign-up notices for the worker to send.
	// Without one (commands that send no mail) queueing fails.
	Mail MailQueue
	// Logger reports sign-up notices that could not be queued.
	Logger *slog.Logger
	// SessionTTL is how long a login's token lives (DefaultSessionTTL when 0).
	SessionTTL time.Duration
	// InvitationTTL is how long an invitation can be accepted (DefaultInvitationTTL when 0).
	InvitationTTL time.Duration
	// PasswordResetTTL is how long a password reset link works
	// (DefaultPasswordResetTTL when 0).
	PasswordResetTTL time.Duration
	// VerificationTTL is how long an email verification link works
	// (DefaultVerificationTTL when 0).
	VerificationTTL time.Duration
	// RequireVerifiedEmail refuses to sign in users whose address is not
	// verified, and to let them accept invitations.
	RequireVerifiedEmail bool
	// AppURL is the public URL of the front end that links in email point
	// to, without a trailing slash (DefaultAppURL when empty).
	AppURL string
	// Throttle limits sign-in, sign-up, password reset and verification
	// attempts (DefaultThrottle when zero; see ThrottleLimits).
	Throttle ThrottleLimits
	// Seats caps a tenant's members by its plan and hears of member count
	// changes (billing); nil for no cap.
	Seats SeatKeeper
	// MaxPendingInvitations caps a tenant's invitations that can still be
	// accepted (MAX_PENDING_INVITATIONS); 0 is no cap.
	MaxPendingInvitations int64
	// MaxInvitationsPerDay caps the invitations a tenant sends per UTC day,
	// revoked ones included (MAX_INVITATIONS_PER_DAY); 0 is no cap.
	MaxInvitationsPerDay int64
}

// MailQueue queues email in a control-plane transaction: the worker sends
// it, with retries, if and only if tx commits. tenant is the tenant the
// email is about (the zero Tenant for none); key is its idempotency key,
// so that a second email with the same key is not sent once the first was.
// Package mail implements it with a background job.
type MailQueue interface {
	QueueMail(ctx context.Context, tx pgx.Tx, tenant domain.Tenant, key string, e domain.Email) error
}

// Identity is the identity store in the control plane: users and their
// sessions, memberships, custom roles, invitations, object grants and API
// keys. The rules that must hold across concurrent requests (the last
// owner, single-use invitations) are kept inside its transactions.
type Identity struct {
	pool     *pgxpool.Pool
	tenants  *Tenants // whose seams' AccessWatcher hears of access taken away
	queries  *db.Queries
	hasher   PasswordHasher
	mail     MailQueue
	logger   *slog.Logger
	opts     IdentityOptions
	throttle *throttle
	// remembered holds sessions' access in tenants for RememberedIn.
	remembered *expiring[rememberKey, rememberedAccess]
}

// NewIdentity returns the identity store over the control plane ts uses.
func NewIdentity(ts *Tenants, opts IdentityOptions) (*Identity, error) {
	if opts.Hasher == nil {
		return nil, errors.New("postgres: identity needs a password hasher")
	}
	if opts.Mail == nil {
		opts.Mail = noMailQueue{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = DefaultSessionTTL
	}
	if opts.InvitationTTL <= 0 {
		opts.InvitationTTL = DefaultInvitationTTL
	}
	if opts.PasswordResetTTL <= 0 {
		opts.PasswordResetTTL = DefaultPasswordResetTTL
	}
	if opts.VerificationTTL <= 0 {
		opts.VerificationTTL = DefaultVerificationTTL
	}
	if opts.AppURL == "" {
		opts.AppURL = DefaultAppURL
	}
	opts.AppURL = strings.TrimRight(opts.AppURL, "/")
	opts.Throttle = opts.Throttle.withDefaults()
	q := db.New(controlPlaneDB(ts.pool))
	return &Identity{
		pool:     ts.pool,
		tenants:  ts,
		queries:  q,
		hasher:   opts.Hasher,
		mail:     opts.Mail,
		logger:   opts.Logger,
		opts:     opts,
		throttle: &throttle{queries: q, limits: opts.Throttle},

		remembered: newExpiring[rememberKey, rememberedAccess](rememberAccessFor, maxRememberedCredentials, time.Now),
	}, nil
}

// errBadCredentials is the one answer to a failed login, whatever failed.
var errBadCredentials = domain.Errorf(domain.EUNAUTHORIZED, "The email or password is incorrect.")

// errBadToken is the one answer to a bearer token that authenticates nobody.
var errBadToken = domain.Errorf(domain.EUNAUTHORIZED, "The token is invalid, expired or revoked.")

// SignUp creates a user and mails them a link verifying their address. To keep sign-up from telling who has an account,
// an email that is taken gets the same answer as a new one (a user with a
// fresh id that is never stored), after the same work, and its owner gets
// an email saying someone tried.
func (id *Identity) SignUp(ctx context.Context, email, password, name, clientAddr string) (domain.User, error) {
	email, err := domain.NormalizeEmail(email)
	if err != nil {
		return domain.User{}, err
	}
	err = domain.ValidateUserName(name)
	if err != nil {
		return domain.User{}, err
	}
	err = domain.ValidatePassword(password)
	if err != nil {
		return domain.User{}, err
	}
	err = id.throttle.check(ctx, "signup", email, clientAddr)
	if err != nil {
		return domain.User{}, err
	}
	hash, err := id.hasher.Hash(ctx, password)
	if err != nil {
		return domain.User{}, fmt.Errorf("sign up: %w", err)
	}
	row, err := id.insertUser(ctx, db.InsertUserParams{Email: email, Name: name, PasswordHash: hash}, "user.signup", id.queueVerification)
	if errors.Is(err, pgx.ErrNoRows) {
		id.queueSignUpNotice(ctx, email)
		return domain.User{ID: newUUID(), Email: email, Name: name, CreatedAt: time.Now()}, nil
	}
	if err != nil {
		return domain.User{}, fmt.Errorf("sign up: %w", err)
	}
	return userFromRow(row), nil
}

// CreateUser creates a user for an operator (the user create command):
// unlike SignUp it says when the email is taken, and the operator vouches
// for the address, which is taken as verified.
func (id *Identity) CreateUser(ctx context.Context, email, password, name string, superuser bool) (domain.User, error) {
	email, err := domain.NormalizeEmail(email)
	if err != nil {
		return domain.User{}, err
	}
	err = domain.ValidateUserName(name)
	if err != nil {
		return domain.User{}, err
	}
	err = domain.ValidatePassword(password)
	if err != nil {
		return domain.User{}, err
	}
	hash, err := id.hasher.Hash(ctx, password)
	if err != nil {
		return domain.User{}, fmt.Errorf("create user: %w", err)
	}
	row, err := id.insertUser(ctx, db.InsertUserParams{Email: email, Name: name, PasswordHash: hash, Superuser: superuser}, "user.create", markVerified)
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.User{}, domain.Errorf(domain.ECONFLICT, "a user with email %s exists", email)
	}
	if err != nil {
		return domain.User{}, fmt.Errorf("create user: %w", err)
	}
	return userFromRow(row), nil
}

// Login checks an email and password and starts a session. Every failure
// (unknown email, wrong password, malformed email) is the same
// EUNAUTHORIZED error after the same work. Failed attempts are throttled
// per account and client address, per account and per client address, a
// client that signed in to the account lately passing the last two
// (ETHROTTLED; see ThrottleLimits); a successful one counts nothing. A hash
// made with other parameters than the hasher's is replaced.
func (id *Identity) Login(ctx context.Context, email, password, clientAddr string) (domain.Session, error) {
	normalized, err := domain.NormalizeEmail(email)
	if err != nil {
		normalized = email // still counted and hashed like any other attempt
	}
	attempt, err := id.throttle.startLogin(ctx, normalized, clientAddr)
	if err != nil {
		return domain.Session{}, err
	}
	row, err := id.queries.GetUserByEmail(ctx, normalized)
	if errors.Is(err, pgx.ErrNoRows) {
		// The same work as a wrong password for a real account.
		_, _, err = id.hasher.Verify(ctx, password, id.hasher.Decoy())
		if err != nil {
			return domain.Session{}, fmt.Errorf("login: %w", err)
		}
		return domain.Session{}, errBadCredentials
	}
	if err != nil {
		return domain.Session{}, fmt.Errorf("login: %w", err)
	}
	ok, rehash, err := id.hasher.Verify(ctx, password, row.PasswordHash)
	if err != nil {
		return domain.Session{}, fmt.Errorf("login: verify the password of user %s: %w", row.ID.String(), err)
	}
	if !ok {
		return domain.Session{}, errBadCredentials
	}
	if id.opts.RequireVerifiedEmail && !row.EmailVerifiedAt.Valid {
		// The right password is no guess: uncounted, but signing in to
		// nothing, it makes the address no known client.
		if err := attempt.takeBack(ctx); err != nil {
			return domain.Session{}, err
		}
		return domain.Session{}, errUnverified // told only to who knows the password
	}
	if err := attempt.succeeded(ctx); err != nil {
		return domain.Session{}, err
	}
	if rehash {
		id.rehash(ctx, row.ID, password)
	}
	return id.startSession(ctx, row.ID)
}

// rehash stores a new hash of password for a user whose hash was made with
// other parameters. A failure is logged, not fatal: the old hash still works.
func (id *Identity) rehash(ctx context.Context, userID pgtype.UUID, password string) {
	hash, err := id.hasher.Hash(ctx, password)
	if err == nil {
		err = id.queries.UpdatePasswordHash(ctx, db.UpdatePasswordHashParams{ID: userID, PasswordHash: hash})
	}
	if err != nil {
		id.logger.WarnContext(ctx, "could not upgrade a password hash", slog.String("user_id", userID.String()), slog.Any("error", err))
	}
}

// startSession starts a session of userID, audited as "user.login" by the
// user with the session's expiry, never its token.
func (id *Identity) startSession(ctx context.Context, userID pgtype.UUID) (domain.Session, error) {
	s := domain.Session{Token: auth.NewToken(auth.SessionPrefix), ExpiresAt: time.Now().Add(id.opts.SessionTTL).UTC().Truncate(time.Second)}
	user := userID.String()
	ctx = domain.WithPrincipal(ctx, domain.Principal{UserID: user})
	err := id.inAuditedTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		if err := q.DeleteExpiredSessions(ctx, userID); err != nil {
			return err
		}
		err := q.InsertSession(ctx, db.InsertSessionParams{
			TokenHash: auth.HashToken(s.Token),
			UserID:    userID,
			ExpiresAt: pgtype.Timestamptz{Time: s.ExpiresAt, Valid: true},
		})
		if err != nil {
			return err
		}
		return RecordControl(ctx, tx, domain.Tenant{}, "user.login", "user:"+user, nil, sessionState{ExpiresAt: s.ExpiresAt})
	})
	if err != nil {
		return domain.Session{}, fmt.Errorf("login: %w", err)
	}
	return s, nil
}

// sessionState is what the audit log records of a session: never its token.
type sessionState struct {
	ExpiresAt time.Time `json:"expires_at"`
}

// Logout ends the session of token; it is not an error if there is none.
// Ending a live session is audited as "user.logout" by its user, and the
// sockets it opened are closed (see AccessWatcher).
func (id *Identity) Logout(ctx context.Context, token string) error {
	hash := auth.HashToken(token)
	err := id.inRevokingTx(ctx, func(tx pgx.Tx, q *db.Queries) (*AccessChange, error) {
		row, err := q.GetSessionUser(ctx, hash)
		if errors.Is(err, pgx.ErrNoRows) {
			// An expired session, or none: removed unrecorded.
			if _, derr := q.DeleteSession(ctx, hash); derr != nil && !errors.Is(derr, pgx.ErrNoRows) {
				return nil, derr
			}
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if _, err := q.DeleteSession(ctx, hash); err != nil {
			return nil, err
		}
		user := row.ID.String()
		by := domain.WithPrincipal(ctx, domain.Principal{UserID: user, Superuser: row.Superuser})
		if err := RecordControl(by, tx, domain.Tenant{}, "user.logout", "user:"+user, nil, nil); err != nil {
			return nil, err
		}
		return &AccessChange{User: user}, nil
	})
	if err != nil {
		return fmt.Errorf("logout: %w", err)
	}
	return nil
}

// Authenticate returns who token belongs to: a user with a live session, or
// a live API key (acting with its role, capped by what its creator may do
// in its tenant now). Anything else is EUNAUTHORIZED.
func (id *Identity) Authenticate(ctx context.Context, token string) (domain.Principal, error) {
	return id.AuthenticateIn(ctx, token, "")
}

// AuthenticateIn is Authenticate for a request that names the tenant slug:
// when that tenant is in the resolve cache, a session's membership there is
// read in the same statement as the session (Principal.Member), and Access
// in that tenant needs no second round trip. The same statement (and an API
// key's) reads whether the tenant is still served: one suspended or
// deleted by another process is dropped from the cache here, before its
// change notification arrives, so the request that follows the change is
// refused on every instance. The slug is only a hint: an
// unknown or uncached one changes nothing, and never reaches the database.
// The Member it reads is as fresh as the session itself, so it is good for
// the one request it was read for; hold no Principal longer than that.
// (Identity remembers it for RememberedIn, whose callers must have it
// checked again before they answer: see AccessCheck.)
func (id *Identity) AuthenticateIn(ctx context.Context, token, slug string) (domain.Principal, error) {
	if auth.IsAPIKey(token) {
		hash := auth.HashToken(token)
		row, err := id.queries.GetAPIKeyAccess(ctx, hash)
		if errors.Is(err, pgx.ErrNoRows) {
			return domain.Principal{}, errBadToken
		}
		if err != nil {
			return domain.Principal{}, fmt.Errorf("authenticate API key: %w", err)
		}
		if _, cached := id.tenants.cached(ctx, row.TenantSlug); cached && !row.TenantActive {
			// Suspended since this process cached it, and the notification
			// has not arrived yet: resolving the key's tenant reads it anew
			// and answers as for any tenant not served.
			id.tenants.forget(row.TenantSlug)
		}
		perms := rolePermissions(row.Role, row.KeyCustomPermissions).Intersect(rolePermissions(row.CreatorRole, row.CreatorCustomPermissions))
		p := domain.Principal{
			UserID: row.CreatorID.String(),
			APIKey: &domain.KeyPrincipal{
				ID: row.ID.String(), TenantID: row.TenantID.String(), TenantSlug: row.TenantSlug,
				Role: row.Role, Permissions: perms,
			},
		}
		if row.TenantActive {
			access := keyAccessOf(row)
			id.remembered.put(rememberKey{tokenHash: [sha256.Size]byte(hash)}, rememberedAccess{principal: p, key: &access})
		}
		return p, nil
	}
	if t, ok := id.tenants.cached(ctx, slug); ok {
		return id.authenticateSessionIn(ctx, token, t)
	}
	row, err := id.queries.GetSessionUser(ctx, auth.HashToken(token))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Principal{}, errBadToken
	}
	if err != nil {
		return domain.Principal{}, fmt.Errorf("authenticate session: %w", err)
	}
	return domain.Principal{UserID: row.ID.String(), Superuser: row.Superuser}, nil
}

// authenticateSessionIn reads the session of token and its user's role in
// t in one statement.
func (id *Identity) authenticateSessionIn(ctx context.Context, token string, t domain.Tenant) (domain.Principal, error) {
	hash := auth.HashToken(token)
	row, err := id.queries.GetSessionAccess(ctx, db.GetSessionAccessParams{TokenHash: hash, TenantID: pgUUID(t.ID)})
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Principal{}, errBadToken
	}
	if err != nil {
		return domain.Principal{}, fmt.Errorf("authenticate session: %w", err)
	}
	p := domain.Principal{UserID: row.UserID.String(), Superuser: row.Superuser}
	if !row.TenantActive {
		// The cache is behind: t was suspended or deleted, and this
		// process has not heard yet. Forgotten, it is resolved anew for
		// this very request, which is answered as for any tenant not
		// served, on every instance alike.
		id.tenants.forget(t.Slug)
		return p, nil
	}
	member := &domain.MemberPrincipal{TenantID: t.ID}
	if row.MemberRole.Valid {
		member.Role = row.MemberRole.String
		member.Permissions = rolePermissions(member.Role, row.CustomPermissions)
	}
	p.Member = member
	id.remembered.put(rememberKey{tokenHash: [sha256.Size]byte(hash), tenantID: t.ID}, rememberedAccess{principal: p, access: sessionAccessOf(row)})
	return p, nil
}

// RememberedIn is AuthenticateIn from memory, for a request that only
// reads: the principal the last full authentication of token found (by
// AuthenticateIn, in the last five minutes; a session's in the tenant slug
// names), with the check the request must pass before it answers (see
// AccessCheck): put it in the context of the request's reads
// (WithAccessCheck), where the first tenant read carries it, or Confirm
// it. ok is false for a credential not remembered, for a tenant not in
// the resolve cache (a session's in slug, an API key's), and for an API key
// in a request that names another tenant than its own: authenticate in
// full. A request served from memory must reach its check, so memory
// serves none that resolving the tenant may refuse before any read.
func (id *Identity) RememberedIn(ctx context.Context, token, slug string) (p domain.Principal, check *AccessCheck, ok bool) {
	key := rememberKey{tokenHash: [sha256.Size]byte(auth.HashToken(token))}
	if !auth.IsAPIKey(token) {
		t, cached := id.tenants.cached(ctx, slug)
		if !cached {
			return domain.Principal{}, nil, false
		}
		key.tenantID = t.ID
	}
	r, ok := id.remembered.get(key)
	if !ok {
		return domain.Principal{}, nil, false
	}
	if k := r.principal.APIKey; k != nil {
		if slug != "" && slug != k.TenantSlug {
			return domain.Principal{}, nil, false
		}
		if t, cached := id.tenants.cached(ctx, k.TenantSlug); !cached || t.ID != k.TenantID {
			return domain.Principal{}, nil, false
		}
	}
	return r.principal, &AccessCheck{remembered: id.remembered, queries: id.queries, key: key, was: r}, true
}

// Access returns what p may do in tenant t. A user who is not a member and
// an API key of another tenant get ENOTFOUND, the answer for a tenant that
// does not exist, so membership cannot be probed; so does everyone once t
// is no longer served, even when this process has not heard yet. A
// superuser holds every permission in every tenant served.
func (id *Identity) Access(ctx context.Context, p domain.Principal, t domain.Tenant) (domain.Access, error) {
	notFound := domain.Errorf(domain.ENOTFOUND, "no tenant %q", t.Slug)
	if p.APIKey != nil {
		if p.APIKey.TenantID != t.ID {
			return domain.Access{}, notFound
		}
		return domain.Access{Tenant: t, Principal: p, Role: p.APIKey.Role, Permissions: p.APIKey.Permissions}, nil
	}
	var role string
	var perms domain.Permissions
	if m := p.Member; m != nil && m.TenantID == t.ID {
		role, perms = m.Role, m.Permissions
	} else {
		row, err := id.queries.GetTenantAccess(ctx, db.GetTenantAccessParams{TenantID: pgUUID(t.ID), UserID: pgUUID(p.UserID)})
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			// t is no longer served and this process has not heard yet
			// (see authenticateSessionIn): not found, for superusers too.
			id.tenants.forget(t.Slug)
			return domain.Access{}, notFound
		case err != nil:
			return domain.Access{}, fmt.Errorf("access: %w", err)
		case row.MemberRole.Valid:
			role, perms = row.MemberRole.String, rolePermissions(row.MemberRole.String, row.CustomPermissions)
		}
	}
	switch {
	case role == "" && p.Superuser:
		return domain.Access{Tenant: t, Principal: p, Role: domain.RoleOwner, Permissions: domain.BuiltinPermissions(domain.RoleOwner)}, nil
	case role == "":
		return domain.Access{}, notFound
	case p.Superuser:
		perms = domain.BuiltinPermissions(domain.RoleOwner)
	}
	return domain.Access{Tenant: t, Principal: p, Role: role, Permissions: perms}, nil
}

// HasGrant reports whether an object grant gives a's principal permission
// perm on the object objectID: a grant to the user (never to an API key,
// which acts for its role only) or to the role a acts in.
func (id *Identity) HasGrant(ctx context.Context, a domain.Access, perm domain.Permission, objectID string) (bool, error) {
	object, ok := parseUUID(objectID)
	if !ok {
		return false, nil
	}
	params := db.HasGrantParams{
		TenantID:   pgUUID(a.Tenant.ID),
		ObjectID:   object,
		Permission: string(perm),
		Role:       pgtype.Text{String: a.Role, Valid: true},
	}
	if a.Principal.APIKey == nil {
		params.UserID = pgUUID(a.Principal.UserID)
	}
	ok, err := id.queries.HasGrant(ctx, params)
	if err != nil {
		return false, fmt.Errorf("check object grant: %w", err)
	}
	return ok, nil
}

// Me returns a user and the active tenants they belong to.
func (id *Identity) Me(ctx context.Context, userID string) (domain.User, []domain.Membership, error) {
	row, err := id.queries.GetUser(ctx, pgUUID(userID))
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.User{}, nil, errBadToken // deleted while signed in
	}
	if err != nil {
		return domain.User{}, nil, fmt.Errorf("me: %w", err)
	}
	rows, err := id.queries.ListUserMemberships(ctx, row.ID)
	if err != nil {
		return domain.User{}, nil, fmt.Errorf("me: %w", err)
	}
	ms := make([]domain.Membership, len(rows))
	for i, r := range rows {
		ms[i] = domain.Membership{Tenant: tenantFromRow(r.Tenant), UserID: userID, Role: r.Role}
	}
	return userFromRow(row), ms, nil
}

// UserTenants pages through the active tenants a user belongs to, by slug.
func (id *Identity) UserTenants(ctx context.Context, userID, afterSlug string, limit int) ([]domain.Tenant, error) {
	rows, err := id.queries.ListUserTenants(ctx, db.ListUserTenantsParams{
		UserID: pgUUID(userID), AfterSlug: afterSlug, MaxItems: clampLimit(limit),
	})
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	out := make([]domain.Tenant, len(rows))
	for i, r := range rows {
		out[i] = tenantFromRow(r)
	}
	return out, nil
}

// AllTenants pages through every tenant, active and suspended, by slug:
// the superuser's view, which the caller has checked they may have.
func (id *Identity) AllTenants(ctx context.Context, afterSlug string, limit int) ([]domain.Tenant, error) {
	return id.tenants.List(ctx, afterSlug, limit)
}

// UserIDByEmail returns the id of the user with email, or ENOTFOUND: for
// operators naming a user (tenant create --owner).
func (id *Identity) UserIDByEmail(ctx context.Context, email string) (string, error) {
	normalized, err := domain.NormalizeEmail(email)
	if err != nil {
		return "", err
	}
	row, err := id.queries.GetUserByEmail(ctx, normalized)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", domain.Errorf(domain.ENOTFOUND, "no user with email %s", normalized)
	}
	if err != nil {
		return "", fmt.Errorf("find user %s: %w", normalized, err)
	}
	return row.ID.String(), nil
}

// queueSignUpNotice tells the owner of email that someone tried to sign up
// with it. The key allows one notice per address and hour, so repeated
// attempts cannot flood a mailbox; it names the address by a hash, as the
// key travels unsealed through the job queue. A failure is logged, not
// returned: the answer must stay the one a new address gets.
func (id *Identity) queueSignUpNotice(ctx context.Context, email string) {
	sum := sha256.Sum256([]byte(email))
	key := "signup-notice:" + hex.EncodeToString(sum[:16]) + ":" + time.Now().UTC().Format("2006-01-02T15")
	err := pgx.BeginFunc(ctx, id.pool, func(tx pgx.Tx) error {
		return id.mail.QueueMail(ctx, tx, domain.Tenant{}, key, domain.Email{
			To:      email,
			Subject: "Someone tried to sign up with your email address",
			Text: "Someone, maybe you, tried to create an account with this email address, which already has one.\n\n" +
				"If it was you, sign in with your password instead. If it was not, you can ignore this message: " +
				"your account is unchanged.\n",
		})
	})
	if err != nil {
		id.logger.WarnContext(ctx, "could not queue the sign-up notice", slog.Any("error", err))
	}
}

// noMailQueue is the mail queue of an Identity given none.
type noMailQueue struct{}

func (noMailQueue) QueueMail(context.Context, pgx.Tx, domain.Tenant, string, domain.Email) error {
	return errors.New("no mail queue configured")
}

// rolePermissions returns what a role holds: a built-in role's catalogue
// permissions, or a custom role's stored ones (only those the catalogue
// still knows).
func rolePermissions(role string, custom []string) domain.Permissions {
	if domain.IsBuiltinRole(role) {
		return domain.BuiltinPermissions(role)
	}
	ps := make([]domain.Permission, 0, len(custom))
	for _, s := range custom {
		if p := domain.Permission(s); domain.KnownPermission(p) {
			ps = append(ps, p)
		}
	}
	return domain.NewPermissions(ps...)
}

// roleOf returns the permissions of role in tenant t, or EINVALID if the
// tenant has no such role.
func roleOf(ctx context.Context, q *db.Queries, t domain.Tenant, role string) (domain.Permissions, error) {
	if domain.IsBuiltinRole(role) {
		return domain.BuiltinPermissions(role), nil
	}
	row, err := q.GetCustomRole(ctx, db.GetCustomRoleParams{TenantID: pgUUID(t.ID), Name: role})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, domain.Errorf(domain.EINVALID, "tenant %s has no role %q", t.Slug, truncateSlug(role))
	}
	if err != nil {
		return nil, fmt.Errorf("look up role: %w", err)
	}
	return rolePermissions(row.Name, row.Permissions), nil
}

// requireCovers returns EFORBIDDEN unless a holds every permission of
// perms: nobody hands on more than they hold.
func requireCovers(a domain.Access, perms domain.Permissions, what string) error {
	if !a.Permissions.Covers(perms) {
		return domain.Errorf(domain.EFORBIDDEN, "%s needs permissions your role %q does not hold.", what, a.Role)
	}
	return nil
}

func userFromRow(r db.User) domain.User {
	return domain.User{
		ID: r.ID.String(), Email: r.Email, Name: r.Name, Superuser: r.Superuser,
		EmailVerified: r.EmailVerifiedAt.Valid, CreatedAt: r.CreatedAt.Time,
	}
}

// parseUUID converts a UUID from a request; ok is false when it is not one.
func parseUUID(s string) (pgtype.UUID, bool) {
	var u pgtype.UUID
	if err := u.Scan(s); err != nil {
		return pgtype.UUID{}, false
	}
	return u, true
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return pgtype.UUID{Bytes: b, Valid: true}.String()
}

// keyset converts a list position to the query parameters of keyset
// pagination; the zero position starts before everything.
func keyset(p domain.Position) (pgtype.Timestamptz, pgtype.UUID) {
	if p.ID == "" {
		return pgtype.Timestamptz{InfinityModifier: pgtype.NegativeInfinity, Valid: true}, pgtype.UUID{Valid: true}
	}
	return pgtype.Timestamptz{Time: p.CreatedAt, Valid: true}, pgUUID(p.ID)
}

// isForeignKeyViolation reports a row referencing one that does not exist.
func isForeignKeyViolation(err error) bool {
	pgErr, ok := errors.AsType[*pgconn.PgError](err)
	return ok && pgErr.Code == "23503"
}

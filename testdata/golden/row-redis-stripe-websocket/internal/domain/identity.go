package domain

import (
	"net/mail"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// User is a person who signs in with an email address and a password. Users
// live in the control plane and belong to tenants through memberships.
type User struct {
	ID        string // UUID
	Email     string // normalised: see NormalizeEmail
	Name      string
	Superuser bool // holds every permission in every tenant
	// EmailVerified says the user proved they receive mail at Email.
	EmailVerified bool
	CreatedAt     time.Time
}

// Membership is a user's place in a tenant: the role they hold there.
type Membership struct {
	ID        string // UUID
	Tenant    Tenant
	UserID    string
	Email     string
	Name      string
	Role      string
	CreatedAt time.Time
}

// Role is a named set of permissions in a tenant: one of the built-in roles
// (ID "") or a custom role the tenant created.
type Role struct {
	ID          string
	Name        string
	Permissions Permissions
	Builtin     bool
}

// Invitation asks someone, by email, to join a tenant in a role. Its token
// is single-use and expires; only its hash is stored.
type Invitation struct {
	ID        string
	Email     string
	Role      string
	InvitedBy string // the inviting user's id
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Grant gives one permission on one object of a tenant to one user or to
// every holder of one role (exactly one of UserID and Role is set).
type Grant struct {
	ID         string
	Permission Permission
	ObjectID   string
	UserID     string
	Role       string
	CreatedAt  time.Time
}

// APIKey authenticates a program in one tenant with one role. Its secret is
// shown once, when it is made; Prefix, its first characters, identifies it
// afterwards.
type APIKey struct {
	ID        string
	Name      string
	Role      string
	Prefix    string
	CreatedAt time.Time
}

// Session is a signed-in user's bearer token. Token is the secret itself and
// exists only in the answer to a login; the database keeps its hash.
type Session struct {
	Token     string
	ExpiresAt time.Time
}

// Principal is who makes a request: a user, by a session token, or a
// program, by an API key.
type Principal struct {
	// UserID is the signed-in user, or for an API key the member who made it.
	UserID string
	// Superuser is set for a signed-in superuser (never for an API key).
	Superuser bool
	// APIKey is set when the request came with an API key.
	APIKey *KeyPrincipal
	// Member is a signed-in user's standing in the tenant the request
	// named, when it was read together with the session (one round trip
	// instead of two); nil when it was not, and Access reads it then.
	Member *MemberPrincipal
}

// MemberPrincipal is a user's role in one tenant, read with their session
// for the same request: Role is "" when they are not a member.
type MemberPrincipal struct {
	TenantID    string
	Role        string
	Permissions Permissions
}

// KeyPrincipal is what an API key may do: in its tenant only, what its role
// holds and the member who made it still holds.
type KeyPrincipal struct {
	ID       string
	TenantID string
	// TenantSlug names the key's tenant on requests that name none.
	TenantSlug  string
	Role        string
	Permissions Permissions
}

// Access is what a principal may do in one tenant: the role it acts in
// there and that role's permissions.
type Access struct {
	Tenant      Tenant
	Principal   Principal
	Role        string
	Permissions Permissions
}

// Can reports whether the access holds permission p tenant-wide.
func (a Access) Can(p Permission) bool {
	return a.Permissions.Has(p)
}

// Email is one plain-text message. The application queues email (see
// postgres.MailQueue); the worker sends it.
type Email struct {
	To      string
	Subject string
	Text    string
}

// Identity limits.
const (
	EmailMaxLength      = 254
	PasswordMinLength   = 8
	PasswordMaxLength   = 256
	UserNameMaxLength   = 100
	APIKeyNameMaxLength = 100
	CustomRolesMax      = 100
)

// NormalizeEmail returns the canonical form of an email address, the one
// stored and compared: a bare address (no display name), lower-cased and
// trimmed. It returns an EINVALID error for anything else.
func NormalizeEmail(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	invalid := Errorf(EINVALID, "%q is not an email address", truncate(s))
	if s == "" || len(s) > EmailMaxLength {
		return "", invalid
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Address != s || addr.Name != "" {
		return "", invalid
	}
	return s, nil
}

// ValidatePassword checks a new password's length: at least 8 characters
// (NIST SP 800-63B) and at most 256, so hashing stays bounded.
func ValidatePassword(password string) error {
	n := utf8.RuneCountInString(password)
	switch {
	case n < PasswordMinLength:
		return Errorf(EINVALID, "the password must be at least %d characters long", PasswordMinLength)
	case n > PasswordMaxLength:
		return Errorf(EINVALID, "the password must be at most %d characters long", PasswordMaxLength)
	}
	return nil
}

// ValidateUserName checks a person's display name: not blank, at most 100
// bytes, no control characters.
func ValidateUserName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return Errorf(EINVALID, "name must not be empty")
	case len(name) > UserNameMaxLength:
		return Errorf(EINVALID, "name must be at most %d bytes long", UserNameMaxLength)
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return Errorf(EINVALID, "name must not contain control characters")
	}
	return nil
}

// ValidateAPIKeyName checks an API key's label, by the rules of user names.
func ValidateAPIKeyName(name string) error {
	return ValidateUserName(name)
}

var roleNamePattern = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)

// ValidateRoleName checks the name of a new custom role: 2 to 40 lowercase
// letters, digits and single hyphens, starting with a letter, and not the
// name of a built-in role.
func ValidateRoleName(name string) error {
	switch {
	case len(name) < 2 || len(name) > 40 || !roleNamePattern.MatchString(name):
		return Errorf(EINVALID, "role name %q must be 2 to 40 lowercase letters, digits and single hyphens, starting with a letter", truncate(name))
	case IsBuiltinRole(name):
		return Errorf(EINVALID, "%q is a built-in role", name)
	}
	return nil
}

// Position is where a page of a list in creation order starts: after the
// item created at CreatedAt with ID. The zero Position is the start.
type Position struct {
	CreatedAt time.Time
	ID        string
}

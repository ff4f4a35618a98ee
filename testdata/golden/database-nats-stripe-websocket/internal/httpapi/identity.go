package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"ledger.internal/svc/internal/domain"
	"ledger.internal/svc/internal/postgres"
)

// Identity is what the API needs of the identity store. postgres.Identity
// implements it.
type Identity interface {
	// SignUp creates a user; a taken email gets the same answer.
	SignUp(ctx context.Context, email, password, name, clientAddr string) (domain.User, error)
	// Login starts a session, or fails the same way whatever was wrong.
	Login(ctx context.Context, email, password, clientAddr string) (domain.Session, error)
	// Logout ends the session of token.
	Logout(ctx context.Context, token string) error
	// Accounts changes and resets passwords and verifies email addresses
	// (account.go).
	Accounts
	// AuthenticateIn returns who a bearer token belongs to, or
	// EUNAUTHORIZED. slug is the tenant the request names, "" when it names
	// none: a hint that may save Access a round trip, never a check.
	AuthenticateIn(ctx context.Context, token, slug string) (domain.Principal, error)
	// RememberedIn is AuthenticateIn from memory, for a request that only
	// reads, with the check it must pass before it answers (checked.go);
	// ok is false when it has to authenticate in full.
	RememberedIn(ctx context.Context, token, slug string) (p domain.Principal, check *postgres.AccessCheck, ok bool)
	// Access returns what p may do in t, or ENOTFOUND when p is not in it.
	Access(ctx context.Context, p domain.Principal, t domain.Tenant) (domain.Access, error)
	// HasGrant reports whether an object grant gives a perm on objectID.
	HasGrant(ctx context.Context, a domain.Access, perm domain.Permission, objectID string) (bool, error)
	// Me returns a user and their memberships.
	Me(ctx context.Context, userID string) (domain.User, []domain.Membership, error)
	// UserTenants pages through the tenants a user belongs to.
	UserTenants(ctx context.Context, userID, afterSlug string, limit int) ([]domain.Tenant, error)
	// AllTenants pages through every tenant, active and suspended, for a
	// superuser.
	AllTenants(ctx context.Context, afterSlug string, limit int) ([]domain.Tenant, error)

	// Members pages through a tenant's members.
	Members(ctx context.Context, t domain.Tenant, after domain.Position, limit int) ([]domain.Membership, error)
	// ChangeRole changes a member's role within a's rights.
	ChangeRole(ctx context.Context, a domain.Access, memberID, role string) (domain.Membership, error)
	// RemoveMember removes a member within a's rights.
	RemoveMember(ctx context.Context, a domain.Access, memberID string) error
	// Invite invites an email address to a's tenant and mails the token.
	Invite(ctx context.Context, a domain.Access, email, role string) (domain.Invitation, error)
	// Invitations pages through a tenant's pending invitations.
	Invitations(ctx context.Context, t domain.Tenant, after domain.Position, limit int) ([]domain.Invitation, error)
	// RevokeInvitation revokes a pending invitation within a's rights.
	RevokeInvitation(ctx context.Context, a domain.Access, invitationID string) error
	// AcceptInvitation makes a user a member by an invitation's token.
	AcceptInvitation(ctx context.Context, userID, token string) (domain.Membership, error)

	// Roles lists a tenant's built-in and custom roles.
	Roles(ctx context.Context, t domain.Tenant) ([]domain.Role, error)
	// CreateRole adds a custom role within a's rights.
	CreateRole(ctx context.Context, a domain.Access, name string, permissions []string) (domain.Role, error)
	// UpdateRole replaces a custom role's permissions within a's rights.
	UpdateRole(ctx context.Context, a domain.Access, name string, permissions []string) (domain.Role, error)
	// DeleteRole deletes a custom role nobody holds, within a's rights.
	DeleteRole(ctx context.Context, a domain.Access, name string) error
	// Grant gives a permission on one object to a member or a role.
	Grant(ctx context.Context, a domain.Access, perm domain.Permission, objectID, userID, role string) (domain.Grant, error)
	// Grants pages through a tenant's object grants.
	Grants(ctx context.Context, t domain.Tenant, objectID string, after domain.Position, limit int) ([]domain.Grant, error)
	// Revoke deletes an object grant.
	Revoke(ctx context.Context, t domain.Tenant, grantID string) error

	// CreateAPIKey makes an API key and returns its secret, once.
	CreateAPIKey(ctx context.Context, a domain.Access, name, role string) (domain.APIKey, string, error)
	// APIKeys pages through a tenant's live API keys.
	APIKeys(ctx context.Context, t domain.Tenant, after domain.Position, limit int) ([]domain.APIKey, error)
	// RevokeAPIKey revokes an API key.
	RevokeAPIKey(ctx context.Context, t domain.Tenant, keyID string) error
}

// userBody is a user as the API shows them: never a password or its hash.
type userBody struct {
	ID    string `json:"id" format:"uuid"`
	Email string `json:"email" format:"email"`
	Name  string `json:"name"`
}

type signUpInput struct {
	Body struct {
		Email    string `json:"email" maxLength:"254" example:"ada@example.com"`
		Password string `json:"password" minLength:"8" maxLength:"256" doc:"At least 8 characters"`
		Name     string `json:"name" minLength:"1" maxLength:"100" example:"Ada Lovelace"`
	}
}

type userOutput struct {
	Body userBody
}

// handleSignUp creates an account. The answer is the same whether or not
// the email already has one (the owner of that address is told by email).
func handleSignUp(identity Identity) endpoint {
	return newEndpoint(huma.Operation{
		OperationID:   "sign-up",
		DefaultStatus: http.StatusCreated,
		Summary:       "Create an account (the same answer whether or not the email has one)",
		Tags:          []string{"Identity"},
		Responses:     throttledResponses(),
	}, func(ctx context.Context, in *signUpInput) (*userOutput, error) {
		u, err := identity.SignUp(ctx, in.Body.Email, in.Body.Password, in.Body.Name, clientAddr(ctx))
		if err != nil {
			return nil, err
		}
		return &userOutput{Body: userBody{ID: u.ID, Email: u.Email, Name: u.Name}}, nil
	})
}

type loginInput struct {
	Body struct {
		Email    string `json:"email" maxLength:"254" example:"ada@example.com"`
		Password string `json:"password" maxLength:"256"`
	}
}

type loginOutput struct {
	Body struct {
		Token     string    `json:"token" doc:"Send as Authorization: Bearer <token>. Shown only here; the server keeps only its hash."`
		ExpiresAt time.Time `json:"expires_at"`
	}
}

// handleLogin starts a session: a new token on every login.
func handleLogin(identity Identity) endpoint {
	return newEndpoint(huma.Operation{
		OperationID: "login",
		Summary:     "Sign in: a new bearer token",
		Tags:        []string{"Identity"},
		Responses:   throttledResponses(),
	}, func(ctx context.Context, in *loginInput) (*loginOutput, error) {
		s, err := identity.Login(ctx, in.Body.Email, in.Body.Password, clientAddr(ctx))
		if err != nil {
			return nil, err
		}
		out := &loginOutput{}
		out.Body.Token, out.Body.ExpiresAt = s.Token, s.ExpiresAt
		return out, nil
	})
}

// handleLogout ends the session whose token authenticated the request.
func handleLogout(identity Identity) endpoint {
	return newEndpoint(huma.Operation{
		OperationID:   "logout",
		DefaultStatus: http.StatusNoContent,
		Summary:       "Sign out: the token stops working",
		Tags:          []string{"Identity"},
	}, func(ctx context.Context, _ *struct{}) (*struct{}, error) {
		token, ok := ctx.Value(tokenKey{}).(string)
		if !ok {
			return nil, domain.Errorf(domain.EINTERNAL, "logout registered without authentication")
		}
		return nil, identity.Logout(ctx, token)
	})
}

// membershipBody is one of the caller's tenants and their role there.
type membershipBody struct {
	Tenant tenantBody `json:"tenant"`
	Role   string     `json:"role"`
}

type meOutput struct {
	Body struct {
		ID            string           `json:"id" format:"uuid"`
		Email         string           `json:"email" format:"email"`
		Name          string           `json:"name"`
		EmailVerified bool             `json:"email_verified" doc:"Whether the user proved they receive mail at email"`
		Memberships   []membershipBody `json:"memberships"`
	}
}

// handleMe returns the signed-in user and the tenants they belong to.
func handleMe(identity Identity) endpoint {
	return newEndpoint(huma.Operation{
		OperationID: "me",
		Summary:     "The signed-in user and their tenants",
		Tags:        []string{"Identity"},
	}, func(ctx context.Context, _ *struct{}) (*meOutput, error) {
		p, err := principalFrom(ctx)
		if err != nil {
			return nil, err
		}
		u, ms, err := identity.Me(ctx, p.UserID)
		if err != nil {
			return nil, err
		}
		out := &meOutput{}
		out.Body.ID, out.Body.Email, out.Body.Name, out.Body.EmailVerified = u.ID, u.Email, u.Name, u.EmailVerified
		out.Body.Memberships = make([]membershipBody, len(ms))
		for i := range ms {
			out.Body.Memberships[i] = membershipBody{Tenant: tenantFrom(ms[i].Tenant), Role: ms[i].Role}
		}
		return out, nil
	})
}

package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"example.com/acme/internal/domain"
)

// memberBody is a member of the tenant as the API shows them.
type memberBody struct {
	ID     string `json:"id" format:"uuid" doc:"The membership's id, which PATCH and DELETE /v1/members/{id} take"`
	UserID string `json:"user_id" format:"uuid"`
	Email  string `json:"email" format:"email"`
	Name   string `json:"name"`
	Role   string `json:"role"`
}

func memberFrom(m *domain.Membership) memberBody {
	return memberBody{ID: m.ID, UserID: m.UserID, Email: m.Email, Name: m.Name, Role: m.Role}
}

type listMembersInput struct {
	Limit  int    `query:"limit" minimum:"1" maximum:"100" default:"20" doc:"Page size"`
	Cursor string `query:"cursor" doc:"next_cursor of the previous page"`
}

type listMembersOutput struct {
	Body struct {
		Items      []memberBody `json:"items"`
		NextCursor string       `json:"next_cursor" doc:"Pass as cursor for the next page; empty on the last page"`
	}
}

// handleListMembers pages through the tenant's members in joining order.
func handleListMembers(identity Identity) endpoint {
	return newEndpoint(huma.Operation{
		OperationID: "list-members",
		Summary:     "List the tenant's members",
		Tags:        []string{"Members"},
	}, withAccess(func(ctx context.Context, a domain.Access, in *listMembersInput) (*listMembersOutput, error) {
		after, err := decodeCursor(in.Cursor)
		if err != nil {
			return nil, err
		}
		ms, err := identity.Members(ctx, a.Tenant, after, in.Limit+1)
		if err != nil {
			return nil, err
		}
		ms, next := page(ms, in.Limit, func(m domain.Membership) (time.Time, string) { return m.CreatedAt, m.ID })
		out := &listMembersOutput{}
		out.Body.NextCursor = next
		out.Body.Items = make([]memberBody, len(ms))
		for i := range ms {
			out.Body.Items[i] = memberFrom(&ms[i])
		}
		return out, nil
	}))
}

type memberIDInput struct {
	ID string `path:"id" doc:"The membership's id"`
}

type changeRoleInput struct {
	ID   string `path:"id" doc:"The membership's id"`
	Body struct {
		Role string `json:"role" minLength:"1" maxLength:"40" doc:"A built-in role (owner, admin, member, viewer) or a custom role of the tenant" example:"admin"`
	}
}

type memberOutput struct {
	Body memberBody
}

// handleChangeRole changes a member's role, never above the caller's own
// permissions, and never leaving the tenant without an owner.
func handleChangeRole(identity Identity) endpoint {
	return newEndpoint(huma.Operation{
		OperationID: "change-member-role",
		Summary:     "Change a member's role",
		Tags:        []string{"Members"},
		Responses:   map[string]*huma.Response{"409": {Description: "The tenant's last owner cannot be demoted"}},
	}, withAccess(func(ctx context.Context, a domain.Access, in *changeRoleInput) (*memberOutput, error) {
		m, err := identity.ChangeRole(ctx, a, in.ID, in.Body.Role)
		if err != nil {
			return nil, err
		}
		return &memberOutput{Body: memberFrom(&m)}, nil
	}))
}

// handleRemoveMember removes a member, with their object grants and API
// keys; the last owner stays.
func handleRemoveMember(identity Identity) endpoint {
	return newEndpoint(huma.Operation{
		OperationID:   "remove-member",
		DefaultStatus: http.StatusNoContent,
		Summary:       "Remove a member, with their object grants and API keys",
		Tags:          []string{"Members"},
		Responses:     map[string]*huma.Response{"409": {Description: "The tenant's last owner cannot be removed"}},
	}, withAccess(func(ctx context.Context, a domain.Access, in *memberIDInput) (*struct{}, error) {
		return nil, identity.RemoveMember(ctx, a, in.ID)
	}))
}

type inviteInput struct {
	Body struct {
		Email string `json:"email" maxLength:"254" example:"grace@example.com"`
		Role  string `json:"role" minLength:"1" maxLength:"40" example:"member"`
	}
}

type invitationOutput struct {
	Body struct {
		ID        string    `json:"id" format:"uuid"`
		Email     string    `json:"email" format:"email"`
		Role      string    `json:"role"`
		ExpiresAt time.Time `json:"expires_at"`
	}
}

// handleInvite invites someone by email; the token goes to that address
// only, never into the answer.
func handleInvite(identity Identity) endpoint {
	return newEndpoint(huma.Operation{
		OperationID:   "invite",
		DefaultStatus: http.StatusCreated,
		Summary:       "Invite someone by email to a role within the caller's own permissions",
		Tags:          []string{"Members"},
	}, withAccess(func(ctx context.Context, a domain.Access, in *inviteInput) (*invitationOutput, error) {
		inv, err := identity.Invite(ctx, a, in.Body.Email, in.Body.Role)
		if err != nil {
			return nil, err
		}
		out := &invitationOutput{}
		out.Body.ID, out.Body.Email, out.Body.Role, out.Body.ExpiresAt = inv.ID, inv.Email, inv.Role, inv.ExpiresAt
		return out, nil
	}))
}

// pendingInvitationBody is a pending invitation as the API lists it: never
// its token or the token's hash.
type pendingInvitationBody struct {
	ID        string    `json:"id" format:"uuid" doc:"The invitation's id, which DELETE /v1/invitations/{id} takes"`
	Email     string    `json:"email" format:"email"`
	Role      string    `json:"role"`
	InvitedBy string    `json:"invited_by" format:"uuid" doc:"The id of the user who sent it"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

type listInvitationsInput struct {
	Limit  int    `query:"limit" minimum:"1" maximum:"100" default:"20" doc:"Page size"`
	Cursor string `query:"cursor" doc:"next_cursor of the previous page"`
}

type listInvitationsOutput struct {
	Body struct {
		Items      []pendingInvitationBody `json:"items"`
		NextCursor string                  `json:"next_cursor" doc:"Pass as cursor for the next page; empty on the last page"`
	}
}

// handleListInvitations pages through the tenant's pending invitations
// (neither accepted, expired nor revoked) in the order they were sent.
func handleListInvitations(identity Identity) endpoint {
	return newEndpoint(huma.Operation{
		OperationID: "list-invitations",
		Summary:     "List the tenant's pending invitations",
		Tags:        []string{"Members"},
	}, withAccess(func(ctx context.Context, a domain.Access, in *listInvitationsInput) (*listInvitationsOutput, error) {
		after, err := decodeCursor(in.Cursor)
		if err != nil {
			return nil, err
		}
		invs, err := identity.Invitations(ctx, a.Tenant, after, in.Limit+1)
		if err != nil {
			return nil, err
		}
		invs, next := page(invs, in.Limit, func(inv domain.Invitation) (time.Time, string) { return inv.CreatedAt, inv.ID })
		out := &listInvitationsOutput{}
		out.Body.NextCursor = next
		out.Body.Items = make([]pendingInvitationBody, len(invs))
		for i, inv := range invs {
			out.Body.Items[i] = pendingInvitationBody{
				ID: inv.ID, Email: inv.Email, Role: inv.Role, InvitedBy: inv.InvitedBy,
				CreatedAt: inv.CreatedAt, ExpiresAt: inv.ExpiresAt,
			}
		}
		return out, nil
	}))
}

type invitationIDInput struct {
	ID string `path:"id" doc:"The invitation's id"`
}

// handleRevokeInvitation revokes a pending invitation: its token stops
// working. Only someone who could invite to its role may.
func handleRevokeInvitation(identity Identity) endpoint {
	return newEndpoint(huma.Operation{
		OperationID:   "revoke-invitation",
		DefaultStatus: http.StatusNoContent,
		Summary:       "Revoke a pending invitation to a role within the caller's own permissions",
		Tags:          []string{"Members"},
	}, withAccess(func(ctx context.Context, a domain.Access, in *invitationIDInput) (*struct{}, error) {
		return nil, identity.RevokeInvitation(ctx, a, in.ID)
	}))
}

type acceptInput struct {
	Body struct {
		Token string `json:"token" minLength:"1" maxLength:"200" doc:"The code from the invitation email"`
	}
}

type acceptOutput struct {
	Body membershipBody
}

// handleAcceptInvitation makes the signed-in user a member of the
// invitation's tenant; the invitation must have been sent to their email.
func handleAcceptInvitation(identity Identity) endpoint {
	return newEndpoint(huma.Operation{
		OperationID: "accept-invitation",
		Summary:     "Join a tenant by the token of an invitation sent to the caller's email",
		Tags:        []string{"Members"},
	}, func(ctx context.Context, in *acceptInput) (*acceptOutput, error) {
		p, err := principalFrom(ctx)
		if err != nil {
			return nil, err
		}
		m, err := identity.AcceptInvitation(ctx, p.UserID, in.Body.Token)
		if err != nil {
			return nil, err
		}
		return &acceptOutput{Body: membershipBody{Tenant: tenantFrom(m.Tenant), Role: m.Role}}, nil
	})
}

package httpapi

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"example.com/acme/internal/domain"
)

// roleBody is a role as the API shows it.
type roleBody struct {
	Name        string   `json:"name"`
	Permissions []string `json:"permissions"`
	Builtin     bool     `json:"builtin" doc:"Built-in roles exist in every tenant and cannot change"`
}

type listRolesInput struct {
	Limit  int    `query:"limit" minimum:"1" maximum:"200" default:"100" doc:"Page size"`
	Cursor string `query:"cursor" doc:"next_cursor of the previous page"`
}

type listRolesOutput struct {
	Body struct {
		Items      []roleBody `json:"items"`
		NextCursor string     `json:"next_cursor" doc:"Pass as cursor for the next page; empty on the last page"`
	}
}

// handleListRoles lists the tenant's roles by name, built-in and custom,
// each with its permissions.
func handleListRoles(identity Identity) endpoint {
	return newEndpoint(huma.Operation{
		OperationID: "list-roles",
		Summary:     "List the tenant's roles and their permissions",
		Tags:        []string{"Roles and grants"},
	}, withAccess(func(ctx context.Context, a domain.Access, in *listRolesInput) (*listRolesOutput, error) {
		roles, err := identity.Roles(ctx, a.Tenant)
		if err != nil {
			return nil, err
		}
		// Roles are few (at most 100 custom ones): page by name in memory.
		start, _ := slices.BinarySearchFunc(roles, in.Cursor, func(r domain.Role, after string) int {
			if r.Name <= after {
				return -1
			}
			return 1
		})
		roles = roles[start:]
		out := &listRolesOutput{}
		if len(roles) > in.Limit {
			roles = roles[:in.Limit]
			out.Body.NextCursor = roles[in.Limit-1].Name
		}
		out.Body.Items = make([]roleBody, len(roles))
		for i, r := range roles {
			out.Body.Items[i] = roleBody{Name: r.Name, Permissions: r.Permissions.Strings(), Builtin: r.Builtin}
		}
		return out, nil
	}))
}

type createRoleInput struct {
	Body struct {
		Name        string   `json:"name" minLength:"2" maxLength:"40" example:"auditor"`
		Permissions []string `json:"permissions" maxItems:"100" doc:"resource:action strings; each must be one the caller holds" example:"[\"projects:read\"]"`
	}
}

type roleOutput struct {
	Body roleBody
}

// handleCreateRole adds a custom role made of permissions the caller holds.
func handleCreateRole(identity Identity) endpoint {
	return newEndpoint(huma.Operation{
		OperationID:   "create-role",
		DefaultStatus: http.StatusCreated,
		Summary:       "Create a custom role from permissions the caller holds",
		Tags:          []string{"Roles and grants"},
	}, withAccess(func(ctx context.Context, a domain.Access, in *createRoleInput) (*roleOutput, error) {
		r, err := identity.CreateRole(ctx, a, in.Body.Name, in.Body.Permissions)
		if err != nil {
			return nil, err
		}
		return &roleOutput{Body: roleBody{Name: r.Name, Permissions: r.Permissions.Strings()}}, nil
	}))
}

type roleNameInput struct {
	Name string `path:"name" maxLength:"40" doc:"The custom role's name"`
}

type updateRoleInput struct {
	Name string `path:"name" maxLength:"40" doc:"The custom role's name"`
	Body struct {
		Permissions []string `json:"permissions" maxItems:"100" doc:"The role's new permissions, replacing its current ones: resource:action strings; the caller must hold each, and each of the current ones" example:"[\"projects:read\"]"`
	}
}

// handleUpdateRole replaces a custom role's permissions; every holder acts
// with the new ones from their next request.
func handleUpdateRole(identity Identity) endpoint {
	return newEndpoint(huma.Operation{
		OperationID: "update-role",
		Summary:     "Replace a custom role's permissions, within the caller's own",
		Tags:        []string{"Roles and grants"},
		Responses:   map[string]*huma.Response{"409": {Description: "Built-in roles cannot change"}},
	}, withAccess(func(ctx context.Context, a domain.Access, in *updateRoleInput) (*roleOutput, error) {
		r, err := identity.UpdateRole(ctx, a, in.Name, in.Body.Permissions)
		if err != nil {
			return nil, err
		}
		return &roleOutput{Body: roleBody{Name: r.Name, Permissions: r.Permissions.Strings()}}, nil
	}))
}

// handleDeleteRole deletes a custom role nobody holds, with the object
// grants given to it.
func handleDeleteRole(identity Identity) endpoint {
	return newEndpoint(huma.Operation{
		OperationID:   "delete-role",
		DefaultStatus: http.StatusNoContent,
		Summary:       "Delete a custom role that no member, API key or pending invitation holds",
		Tags:          []string{"Roles and grants"},
		Responses:     map[string]*huma.Response{"409": {Description: "Built-in roles cannot be deleted, nor roles still held"}},
	}, withAccess(func(ctx context.Context, a domain.Access, in *roleNameInput) (*struct{}, error) {
		return nil, identity.DeleteRole(ctx, a, in.Name)
	}))
}

// grantBody is an object grant as the API shows it.
type grantBody struct {
	ID         string    `json:"id" format:"uuid"`
	Permission string    `json:"permission"`
	ObjectID   string    `json:"object_id" format:"uuid"`
	UserID     string    `json:"user_id,omitempty" format:"uuid" doc:"The member holding the grant, when it is for a user"`
	Role       string    `json:"role,omitempty" doc:"The role whose holders have the grant, when it is for a role"`
	CreatedAt  time.Time `json:"created_at"`
}

func grantFrom(g domain.Grant) grantBody {
	return grantBody{ID: g.ID, Permission: string(g.Permission), ObjectID: g.ObjectID, UserID: g.UserID, Role: g.Role, CreatedAt: g.CreatedAt}
}

type listGrantsInput struct {
	Limit    int    `query:"limit" minimum:"1" maximum:"100" default:"20" doc:"Page size"`
	Cursor   string `query:"cursor" doc:"next_cursor of the previous page"`
	ObjectID string `query:"object_id" doc:"Only the grants on this object"`
}

type listGrantsOutput struct {
	Body struct {
		Items      []grantBody `json:"items"`
		NextCursor string      `json:"next_cursor" doc:"Pass as cursor for the next page; empty on the last page"`
	}
}

// handleListGrants pages through the tenant's object grants.
func handleListGrants(identity Identity) endpoint {
	return newEndpoint(huma.Operation{
		OperationID: "list-grants",
		Summary:     "List the tenant's object grants",
		Tags:        []string{"Roles and grants"},
	}, withAccess(func(ctx context.Context, a domain.Access, in *listGrantsInput) (*listGrantsOutput, error) {
		after, err := decodeCursor(in.Cursor)
		if err != nil {
			return nil, err
		}
		gs, err := identity.Grants(ctx, a.Tenant, in.ObjectID, after, in.Limit+1)
		if err != nil {
			return nil, err
		}
		gs, next := page(gs, in.Limit, func(g domain.Grant) (time.Time, string) { return g.CreatedAt, g.ID })
		out := &listGrantsOutput{}
		out.Body.NextCursor = next
		out.Body.Items = make([]grantBody, len(gs))
		for i, g := range gs {
			out.Body.Items[i] = grantFrom(g)
		}
		return out, nil
	}))
}

type createGrantInput struct {
	Body struct {
		Permission string `json:"permission" doc:"A permission that operations on single objects declare, such as projects:read" example:"projects:read"`
		ObjectID   string `json:"object_id" format:"uuid" doc:"The object, of the permission's resource, in this tenant"`
		UserID     string `json:"user_id,omitempty" format:"uuid" doc:"A member of this tenant (or give role)"`
		Role       string `json:"role,omitempty" maxLength:"40" doc:"A role of this tenant (or give user_id)"`
	}
}

type grantOutput struct {
	Body grantBody
}

// handleCreateGrant gives one permission on one object to a member or a
// role. Only permissions of operations on single objects can be granted,
// the object must exist in the tenant and the caller must hold the
// permission.
func handleCreateGrant(r *router, identity Identity) endpoint {
	return newEndpoint(huma.Operation{
		OperationID:   "create-grant",
		DefaultStatus: http.StatusCreated,
		Summary:       "Grant a permission on one object to a member or a role",
		Tags:          []string{"Roles and grants"},
	}, withAccess(func(ctx context.Context, a domain.Access, in *createGrantInput) (*grantOutput, error) {
		perm := domain.Permission(in.Body.Permission)
		if !r.grantable[perm] {
			names := make([]string, 0, len(r.grantable))
			for p := range r.grantable {
				names = append(names, string(p))
			}
			slices.Sort(names)
			return nil, domain.Errorf(domain.EINVALID, "%q cannot be granted on single objects; these can: %s", truncateDetail(in.Body.Permission), strings.Join(names, ", "))
		}
		if err := r.finders[perm.Resource()](ctx, a.Tenant, in.Body.ObjectID); err != nil {
			if domain.ErrorCode(err) == domain.ENOTFOUND {
				return nil, domain.Errorf(domain.EINVALID, "object_id names no %s object of this tenant.", perm.Resource())
			}
			return nil, err
		}
		g, err := identity.Grant(ctx, a, perm, in.Body.ObjectID, in.Body.UserID, in.Body.Role)
		if err != nil {
			return nil, err
		}
		return &grantOutput{Body: grantFrom(g)}, nil
	}))
}

type grantIDInput struct {
	ID string `path:"id" doc:"The grant's id"`
}

// handleRevokeGrant deletes a grant; it stops working on the next request.
func handleRevokeGrant(identity Identity) endpoint {
	return newEndpoint(huma.Operation{
		OperationID:   "revoke-grant",
		DefaultStatus: http.StatusNoContent,
		Summary:       "Revoke an object grant",
		Tags:          []string{"Roles and grants"},
	}, withAccess(func(ctx context.Context, a domain.Access, in *grantIDInput) (*struct{}, error) {
		return nil, identity.Revoke(ctx, a.Tenant, in.ID)
	}))
}

// truncateDetail shortens client input echoed in an error.
func truncateDetail(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

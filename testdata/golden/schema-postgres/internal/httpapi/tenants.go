package httpapi

import (
	"context"
	"encoding/base64"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"example.com/acme/internal/domain"
)

// tenantBody is a tenant as the API shows it.
type tenantBody struct {
	ID   string `json:"id" format:"uuid" doc:"The tenant's id"`
	Slug string `json:"slug" doc:"Names the tenant's subdomain and the value of the X-Tenant header"`
	Name string `json:"name" doc:"Display name"`
	// Suspended is only ever set in a superuser's list of every tenant:
	// nobody else sees a suspended tenant at all.
	Suspended bool `json:"suspended,omitempty" doc:"Set on a suspended tenant, which only a superuser's list of every tenant shows"`
}

func tenantFrom(t domain.Tenant) tenantBody {
	return tenantBody{ID: t.ID, Slug: t.Slug, Name: t.Name, Suspended: t.Suspended}
}

type createTenantInput struct {
	Body struct {
		Slug string `json:"slug" doc:"3 to 40 lowercase letters, digits and single hyphens, starting and ending with a letter or digit; not a reserved name (www, api, admin, ...)" example:"acme"`
		Name string `json:"name" doc:"Display name, at most 100 bytes" example:"Acme, Inc."`
	}
}

type tenantOutput struct {
	Body tenantBody
}

// handleCreateTenant creates a tenant whose owner is the caller: its
// storage is provisioned and migrated before the answer, and a failure
// leaves no trace of it.
func handleCreateTenant(tenants Tenants) endpoint {
	return newEndpoint(huma.Operation{
		OperationID:   "create-tenant",
		DefaultStatus: http.StatusCreated,
		Summary:       "Create a tenant owned by the caller: its storage is provisioned and migrated before the answer",
		Tags:          []string{"Tenants"},
	}, func(ctx context.Context, in *createTenantInput) (*tenantOutput, error) {
		p, err := principalFrom(ctx)
		if err != nil {
			return nil, err
		}
		t, err := tenants.CreateOwned(ctx, in.Body.Slug, in.Body.Name, p.UserID)
		if err != nil {
			return nil, err
		}
		return &tenantOutput{Body: tenantFrom(t)}, nil
	})
}

type listTenantsInput struct {
	Limit  int    `query:"limit" minimum:"1" maximum:"100" default:"20" doc:"Page size"`
	Cursor string `query:"cursor" doc:"next_cursor of the previous page"`
	All    bool   `query:"all" doc:"Every tenant, active and suspended, not only the caller's: superusers only"`
}

type listTenantsOutput struct {
	Body struct {
		Items      []tenantBody `json:"items"`
		NextCursor string       `json:"next_cursor" doc:"Pass as cursor for the next page; empty on the last page"`
	}
}

// handleListTenants pages through the caller's tenants by slug, or for a
// superuser who asks, through every tenant.
func handleListTenants(identity Identity) endpoint {
	return newEndpoint(huma.Operation{
		OperationID: "list-tenants",
		Summary:     "List the caller's tenants (a superuser's, with all=true, every tenant)",
		Tags:        []string{"Tenants"},
		Errors:      []int{http.StatusForbidden},
	}, func(ctx context.Context, in *listTenantsInput) (*listTenantsOutput, error) {
		p, err := principalFrom(ctx)
		if err != nil {
			return nil, err
		}
		after, err := base64.RawURLEncoding.DecodeString(in.Cursor)
		if err != nil {
			return nil, domain.Errorf(domain.EINVALID, "cursor is not one this API returned")
		}
		var page []domain.Tenant
		switch {
		case in.All && !p.Superuser:
			return nil, domain.Errorf(domain.EFORBIDDEN, "Only a superuser lists every tenant (all=true); leave it out for yours.")
		case in.All:
			page, err = identity.AllTenants(ctx, string(after), in.Limit+1)
		default:
			page, err = identity.UserTenants(ctx, p.UserID, string(after), in.Limit+1)
		}
		if err != nil {
			return nil, err
		}
		out := &listTenantsOutput{}
		out.Body.Items = make([]tenantBody, 0, min(len(page), in.Limit))
		for i, t := range page {
			if i == in.Limit {
				out.Body.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(page[i-1].Slug))
				break
			}
			out.Body.Items = append(out.Body.Items, tenantFrom(t))
		}
		return out, nil
	})
}

type renameTenantInput struct {
	Slug string `path:"slug" doc:"The tenant's slug"`
	Body struct {
		Name string `json:"name" doc:"The new display name, at most 100 bytes" example:"Acme Corporation"`
	}
}

// handleRenameTenant changes the tenant's display name; its slug (so its
// subdomain and storage) stays.
func handleRenameTenant(tenants Tenants) endpoint {
	return newEndpoint(huma.Operation{
		OperationID: "rename-tenant",
		Summary:     "Rename the tenant (its display name; the slug stays)",
		Tags:        []string{"Tenants"},
	}, withAccess(func(ctx context.Context, a domain.Access, in *renameTenantInput) (*tenantOutput, error) {
		t, err := tenants.Rename(ctx, a.Tenant.Slug, in.Body.Name)
		if err != nil {
			return nil, err
		}
		return &tenantOutput{Body: tenantFrom(t)}, nil
	}))
}

type deleteTenantInput struct {
	Slug string `path:"slug" doc:"The tenant's slug"`
	Body struct {
		Confirm string `json:"confirm" doc:"The tenant's slug again: deleting cannot be undone" example:"acme"`
	}
}

// handleDeleteTenant deletes the tenant and all of its data once the
// caller typed its slug again (see postgres.Tenants.Delete for what goes).
func handleDeleteTenant(tenants Tenants) endpoint {
	return newEndpoint(huma.Operation{
		OperationID:   "delete-tenant",
		DefaultStatus: http.StatusNoContent,
		Summary:       "Delete the tenant and all of its data, for good",
		Description: "The tenant stops resolving at once, everywhere: its members' and API keys' requests are answered 404 " +
			"and its realtime connections close. Its data goes (its storage, members, roles, invitations, grants and API keys; " +
			"with billing, its Stripe customer, which cancels its subscription), and its slug becomes free. " +
			"The control-plane audit log keeps the record of the deletion.",
		Tags: []string{"Tenants"},
	}, withAccess(func(ctx context.Context, a domain.Access, in *deleteTenantInput) (*struct{}, error) {
		if in.Body.Confirm != a.Tenant.Slug {
			return nil, domain.Errorf(domain.EINVALID, "confirm must be the tenant's slug, %q: deleting a tenant cannot be undone.", a.Tenant.Slug)
		}
		_, err := tenants.Delete(ctx, a.Tenant.Slug)
		return nil, err
	}))
}

package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/acme/shop-api/internal/domain"
)

// apiKeyBody is an API key as lists show it: never its secret.
type apiKeyBody struct {
	ID        string    `json:"id" format:"uuid"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	Prefix    string    `json:"prefix" doc:"The key's first characters, to recognise it by"`
	CreatedAt time.Time `json:"created_at"`
}

func apiKeyFrom(k domain.APIKey) apiKeyBody {
	return apiKeyBody{ID: k.ID, Name: k.Name, Role: k.Role, Prefix: k.Prefix, CreatedAt: k.CreatedAt}
}

type createAPIKeyInput struct {
	Body struct {
		Name string `json:"name" minLength:"1" maxLength:"100" example:"CI deploys"`
		Role string `json:"role" minLength:"1" maxLength:"40" doc:"A role of the tenant, within the caller's own permissions" example:"viewer"`
	}
}

type createdAPIKeyOutput struct {
	Body struct {
		ID     string `json:"id" format:"uuid"`
		Name   string `json:"name"`
		Role   string `json:"role"`
		Prefix string `json:"prefix"`
		Key    string `json:"key" doc:"The secret: shown only in this answer, send it as Authorization: Bearer <key>"`
	}
}

// handleCreateAPIKey makes an API key for the tenant and shows its secret,
// this once.
func handleCreateAPIKey(identity Identity) endpoint {
	return newEndpoint(huma.Operation{
		OperationID:   "create-api-key",
		DefaultStatus: http.StatusCreated,
		Summary:       "Create an API key; its secret is in this answer only",
		Tags:          []string{"API keys"},
	}, withAccess(func(ctx context.Context, a domain.Access, in *createAPIKeyInput) (*createdAPIKeyOutput, error) {
		k, secret, err := identity.CreateAPIKey(ctx, a, in.Body.Name, in.Body.Role)
		if err != nil {
			return nil, err
		}
		out := &createdAPIKeyOutput{}
		out.Body.ID, out.Body.Name, out.Body.Role, out.Body.Prefix, out.Body.Key = k.ID, k.Name, k.Role, k.Prefix, secret
		return out, nil
	}))
}

type listAPIKeysInput struct {
	Limit  int    `query:"limit" minimum:"1" maximum:"100" default:"20" doc:"Page size"`
	Cursor string `query:"cursor" doc:"next_cursor of the previous page"`
}

type listAPIKeysOutput struct {
	Body struct {
		Items      []apiKeyBody `json:"items"`
		NextCursor string       `json:"next_cursor" doc:"Pass as cursor for the next page; empty on the last page"`
	}
}

// handleListAPIKeys pages through the tenant's live API keys.
func handleListAPIKeys(identity Identity) endpoint {
	return newEndpoint(huma.Operation{
		OperationID: "list-api-keys",
		Summary:     "List the tenant's API keys (never their secrets)",
		Tags:        []string{"API keys"},
	}, withAccess(func(ctx context.Context, a domain.Access, in *listAPIKeysInput) (*listAPIKeysOutput, error) {
		after, err := decodeCursor(in.Cursor)
		if err != nil {
			return nil, err
		}
		keys, err := identity.APIKeys(ctx, a.Tenant, after, in.Limit+1)
		if err != nil {
			return nil, err
		}
		keys, next := page(keys, in.Limit, func(k domain.APIKey) (time.Time, string) { return k.CreatedAt, k.ID })
		out := &listAPIKeysOutput{}
		out.Body.NextCursor = next
		out.Body.Items = make([]apiKeyBody, len(keys))
		for i, k := range keys {
			out.Body.Items[i] = apiKeyFrom(k)
		}
		return out, nil
	}))
}

type apiKeyIDInput struct {
	ID string `path:"id" doc:"The API key's id"`
}

// handleRevokeAPIKey revokes an API key: the next request with it is 401.
func handleRevokeAPIKey(identity Identity) endpoint {
	return newEndpoint(huma.Operation{
		OperationID:   "revoke-api-key",
		DefaultStatus: http.StatusNoContent,
		Summary:       "Revoke an API key",
		Tags:          []string{"API keys"},
	}, withAccess(func(ctx context.Context, a domain.Access, in *apiKeyIDInput) (*struct{}, error) {
		return nil, identity.RevokeAPIKey(ctx, a.Tenant, in.ID)
	}))
}

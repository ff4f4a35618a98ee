package httpapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"ledger.internal/svc/internal/domain"
	"ledger.internal/svc/internal/postgres"
	"ledger.internal/svc/internal/postgres/tenantdb"
)

// Projects are the example tenant-scoped resource: every handler reaches
// them through Tenants.InTenant with the tenant of the request, and only so.
// A change goes through the unit InTenant hands it: creating a project
// records an audit entry, and its event is published after commit.

// projectBody is a project as the API shows it.
type projectBody struct {
	ID        string    `json:"id" format:"uuid"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

func projectFrom(p tenantdb.Project) projectBody {
	return projectBody{ID: p.ID.String(), Name: p.Name, CreatedAt: p.CreatedAt.Time}
}

type createProjectInput struct {
	tenantHeader
	Body struct {
		Name string `json:"name" minLength:"1" maxLength:"200" example:"Website relaunch"`
	}
}

type projectOutput struct {
	Body projectBody
}

func handleCreateProject(tenants Tenants) endpoint {
	return newEndpoint(huma.Operation{
		OperationID:   "create-project",
		DefaultStatus: http.StatusCreated,
		Summary:       "Create a project in the tenant",
		Tags:          []string{"Projects"},
	}, tenantScoped(func(ctx context.Context, t domain.Tenant, in *createProjectInput) (*projectOutput, error) {
		var p tenantdb.Project
		err := tenants.InTenant(ctx, t, func(ctx context.Context, u *postgres.Unit) error {
			var err error
			if p, err = u.Queries.CreateProject(ctx, in.Body.Name); err != nil {
				return err
			}
			body := projectFrom(p)
			return u.Audit(ctx, "project.create", "project:"+body.ID, nil, body)
		})
		if err != nil {
			return nil, err
		}
		return &projectOutput{Body: projectFrom(p)}, nil
	}))
}

type getProjectInput struct {
	tenantHeader
	ID string `path:"id" format:"uuid" doc:"The project's id"`
}

func handleGetProject(tenants Tenants) endpoint {
	return newEndpoint(huma.Operation{
		OperationID: "get-project",
		Summary:     "Get one of the tenant's projects",
		Tags:        []string{"Projects"},
	}, tenantScoped(func(ctx context.Context, t domain.Tenant, in *getProjectInput) (*projectOutput, error) {
		var id pgtype.UUID
		if err := id.Scan(in.ID); err != nil {
			return nil, domain.Errorf(domain.ENOTFOUND, "No project %s.", in.ID)
		}
		var p tenantdb.Project
		err := tenants.InTenant(ctx, t, func(ctx context.Context, u *postgres.Unit) error {
			var err error
			p, err = u.Queries.GetProject(ctx, id)
			return err
		})
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, domain.Errorf(domain.ENOTFOUND, "No project %s.", in.ID)
		}
		if err != nil {
			return nil, err
		}
		return &projectOutput{Body: projectFrom(p)}, nil
	}))
}

type listProjectsInput struct {
	tenantHeader
	Limit  int    `query:"limit" minimum:"1" maximum:"100" default:"20" doc:"Page size"`
	Cursor string `query:"cursor" doc:"next_cursor of the previous page"`
}

type listProjectsOutput struct {
	Body struct {
		Items      []projectBody `json:"items"`
		NextCursor string        `json:"next_cursor" doc:"Pass as cursor for the next page; empty on the last page"`
	}
}

// handleListProjects pages through the tenant's projects in creation order.
func handleListProjects(tenants Tenants) endpoint {
	return newEndpoint(huma.Operation{
		OperationID: "list-projects",
		Summary:     "List the tenant's projects",
		Tags:        []string{"Projects"},
	}, tenantScoped(func(ctx context.Context, t domain.Tenant, in *listProjectsInput) (*listProjectsOutput, error) {
		after, err := decodeCursor(in.Cursor)
		if err != nil {
			return nil, err
		}
		afterAt, afterID := projectKeyset(after)
		var rows []tenantdb.Project
		err = tenants.InTenant(ctx, t, func(ctx context.Context, u *postgres.Unit) error {
			var qerr error
			rows, qerr = u.Queries.ListProjects(ctx, tenantdb.ListProjectsParams{
				AfterCreatedAt: afterAt,
				AfterID:        afterID,
				MaxItems:       int32(in.Limit + 1), //nolint:gosec // G115: huma bounds Limit to 1..100
			})
			return qerr
		})
		if err != nil {
			return nil, err
		}
		rows, next := page(rows, in.Limit, func(p tenantdb.Project) (time.Time, string) { return p.CreatedAt.Time, p.ID.String() })
		out := &listProjectsOutput{}
		out.Body.NextCursor = next
		out.Body.Items = make([]projectBody, len(rows))
		for i, p := range rows {
			out.Body.Items[i] = projectFrom(p)
		}
		return out, nil
	}))
}

// projectKeyset converts a list position to the keyset parameters of
// ListProjects; the start of the list is before everything.
func projectKeyset(p domain.Position) (pgtype.Timestamptz, pgtype.UUID) {
	if p.ID == "" {
		return pgtype.Timestamptz{InfinityModifier: pgtype.NegativeInfinity, Valid: true}, pgtype.UUID{Valid: true}
	}
	var id pgtype.UUID
	_ = id.Scan(p.ID) // decodeCursor checked it
	return pgtype.Timestamptz{Time: p.CreatedAt, Valid: true}, id
}

// findProject looks a project up for object grants.
func findProject(tenants Tenants) objectFinder {
	return func(ctx context.Context, t domain.Tenant, id string) error {
		var pid pgtype.UUID
		if err := pid.Scan(id); err != nil {
			return domain.Errorf(domain.ENOTFOUND, "No project %s.", id)
		}
		err := tenants.InTenant(ctx, t, func(ctx context.Context, u *postgres.Unit) error {
			_, err := u.Queries.GetProject(ctx, pid)
			return err
		})
		if errors.Is(err, pgx.ErrNoRows) {
			return domain.Errorf(domain.ENOTFOUND, "No project %s.", id)
		}
		return err
	}
}

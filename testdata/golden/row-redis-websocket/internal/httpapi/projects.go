package httpapi

import (
	"context"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/acme/shop/internal/domain"
	"github.com/acme/shop/internal/postgres/tenantdb"
)

// Projects are the example tenant-scoped resource: every handler reaches
// them through Tenants.InTenant with the tenant of the request, and only so.

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

func handleCreateProject(tenants Tenants) func(context.Context, domain.Tenant, *createProjectInput) (*projectOutput, error) {
	return func(ctx context.Context, t domain.Tenant, in *createProjectInput) (*projectOutput, error) {
		var p tenantdb.Project
		err := tenants.InTenant(ctx, t, func(ctx context.Context, q *tenantdb.Queries) error {
			var err error
			p, err = q.CreateProject(ctx, in.Body.Name)
			return err
		})
		if err != nil {
			return nil, err
		}
		return &projectOutput{Body: projectFrom(p)}, nil
	}
}

type getProjectInput struct {
	tenantHeader
	ID string `path:"id" format:"uuid" doc:"The project's id"`
}

func handleGetProject(tenants Tenants) func(context.Context, domain.Tenant, *getProjectInput) (*projectOutput, error) {
	return func(ctx context.Context, t domain.Tenant, in *getProjectInput) (*projectOutput, error) {
		var id pgtype.UUID
		if err := id.Scan(in.ID); err != nil {
			return nil, domain.Errorf(domain.ENOTFOUND, "No project %s.", in.ID)
		}
		var p tenantdb.Project
		err := tenants.InTenant(ctx, t, func(ctx context.Context, q *tenantdb.Queries) error {
			var err error
			p, err = q.GetProject(ctx, id)
			return err
		})
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, domain.Errorf(domain.ENOTFOUND, "No project %s.", in.ID)
		}
		if err != nil {
			return nil, err
		}
		return &projectOutput{Body: projectFrom(p)}, nil
	}
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
func handleListProjects(tenants Tenants) func(context.Context, domain.Tenant, *listProjectsInput) (*listProjectsOutput, error) {
	return func(ctx context.Context, t domain.Tenant, in *listProjectsInput) (*listProjectsOutput, error) {
		after, err := decodeProjectCursor(in.Cursor)
		if err != nil {
			return nil, err
		}
		var page []tenantdb.Project
		err = tenants.InTenant(ctx, t, func(ctx context.Context, q *tenantdb.Queries) error {
			var qerr error
			page, qerr = q.ListProjects(ctx, tenantdb.ListProjectsParams{
				AfterCreatedAt: after.createdAt,
				AfterID:        after.id,
				MaxItems:       int32(in.Limit + 1), //nolint:gosec // G115: huma bounds Limit to 1..100
			})
			return qerr
		})
		if err != nil {
			return nil, err
		}
		out := &listProjectsOutput{}
		out.Body.Items = make([]projectBody, 0, min(len(page), in.Limit))
		for i, p := range page {
			if i == in.Limit {
				out.Body.NextCursor = encodeProjectCursor(page[i-1])
				break
			}
			out.Body.Items = append(out.Body.Items, projectFrom(p))
		}
		return out, nil
	}
}

// projectCursor is the position after which a page of projects starts.
type projectCursor struct {
	createdAt pgtype.Timestamptz
	id        pgtype.UUID
}

// encodeProjectCursor makes an opaque cursor from the last project of a
// page: its creation time in microseconds (Postgres' precision) and its id.
func encodeProjectCursor(p tenantdb.Project) string {
	raw := strconv.FormatInt(p.CreatedAt.Time.UnixMicro(), 10) + "." + p.ID.String()
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// decodeProjectCursor reads a cursor; "" is the start of the list.
func decodeProjectCursor(cursor string) (projectCursor, error) {
	if cursor == "" {
		return projectCursor{
			createdAt: pgtype.Timestamptz{InfinityModifier: pgtype.NegativeInfinity, Valid: true},
			id:        pgtype.UUID{Valid: true},
		}, nil
	}
	invalid := domain.Errorf(domain.EINVALID, "cursor is not one this API returned")
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return projectCursor{}, invalid
	}
	micros, id, ok := strings.Cut(string(raw), ".")
	n, err := strconv.ParseInt(micros, 10, 64)
	if !ok || err != nil {
		return projectCursor{}, invalid
	}
	c := projectCursor{createdAt: pgtype.Timestamptz{Time: time.UnixMicro(n), Valid: true}}
	if err := c.id.Scan(id); err != nil {
		return projectCursor{}, invalid
	}
	return c, nil
}

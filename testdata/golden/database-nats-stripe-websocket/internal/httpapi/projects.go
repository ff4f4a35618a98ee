package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/jackc/pgx/v5/pgtype"

	"ledger.internal/svc/internal/domain"
	"ledger.internal/svc/internal/postgres"
	"ledger.internal/svc/internal/postgres/tenantdb"
)

// Projects are a tenant-scoped resource added with `saaskit add resource`.
// Every handler reaches them with the tenant of the request: reads of one
// row or one page through Tenants.ReadTenant (one round trip), changes
// through Tenants.InTenant, each recording an audit entry in the same
// transaction.

// projectKind names the table of Projects and, in messages, one of them.
var projectKind = resourceKind{table: "projects", label: "project"}

// projectBody is a project as the API shows it.
type projectBody struct {
	ID        string    `json:"id" format:"uuid"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func projectFrom(r tenantdb.Project) projectBody {
	return projectBody{
		ID:        r.ID.String(),
		Name:      r.Name,
		CreatedAt: r.CreatedAt.Time,
		UpdatedAt: r.UpdatedAt.Time,
	}
}

// projectFields are a project's fields as a request gives them: nil is
// absent (or null).
type projectFields struct {
	Name *string `json:"name,omitempty" minLength:"1" maxLength:"200"`
}

// params converts the fields to the update's parameters (the create takes
// the same values). No field is marked set.
func (f projectFields) params() tenantdb.UpdateProjectParams {
	var p tenantdb.UpdateProjectParams
	p.Name = pgText(f.Name)
	return p
}

type createProjectInput struct {
	Body struct {
		Name *string `json:"name" minLength:"1" maxLength:"200"`
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
		p := projectFields(in.Body).params()
		var body projectBody
		err := tenants.InTenant(ctx, t, func(ctx context.Context, u *postgres.Unit) error {
			r, qerr := u.Queries.CreateProject(ctx, p.Name)
			if qerr != nil {
				return qerr
			}
			body = projectFrom(r)
			return u.Audit(ctx, "project.create", "project:"+body.ID, nil, body)
		})
		if err != nil {
			return nil, projectKind.error(err, "")
		}
		return &projectOutput{Body: body}, nil
	}))
}

type projectIDInput struct {
	ID string `path:"id" format:"uuid" doc:"The project's id"`
}

// projectID parses a project's id; one that is not a UUID names no project.
func projectID(id string) (pgtype.UUID, error) {
	var pid pgtype.UUID
	if !isUUID(id) || pid.Scan(id) != nil {
		return pid, domain.Errorf(domain.ENOTFOUND, "No project %s.", id)
	}
	return pid, nil
}

func handleGetProject(tenants Tenants) endpoint {
	return newEndpoint(huma.Operation{
		OperationID: "get-project",
		Summary:     "Get one of the tenant's projects",
		Tags:        []string{"Projects"},
	}, tenantScoped(func(ctx context.Context, t domain.Tenant, in *projectIDInput) (*projectOutput, error) {
		id, err := projectID(in.ID)
		if err != nil {
			return nil, err
		}
		var r tenantdb.Project
		err = tenants.ReadTenant(ctx, t, func(ctx context.Context, q *tenantdb.Queries) error {
			var qerr error
			r, qerr = q.GetProject(ctx, id)
			return qerr
		})
		if err != nil {
			return nil, projectKind.error(err, in.ID)
		}
		return &projectOutput{Body: projectFrom(r)}, nil
	}))
}

type listProjectsInput struct {
	Limit  int    `query:"limit" minimum:"1" maximum:"100" default:"20" doc:"Page size"`
	Cursor string `query:"cursor" doc:"next_cursor of the previous page"`
	Sort   string `query:"sort" enum:"created_at,-created_at" default:"created_at" doc:"Creation order, oldest first, or newest first with -created_at"`
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
		descending := in.Sort == "-created_at"
		params := tenantdb.ListProjectsParams{
			AfterCreatedAt: pgtype.Timestamptz{Time: after.CreatedAt, Valid: true},
			MaxItems:       int32(in.Limit + 1), //nolint:gosec // G115: huma bounds Limit to 1..100
		}
		switch {
		case after.ID != "":
			_ = params.AfterID.Scan(after.ID) // decodeCursor checked it
		case descending:
			params.AfterCreatedAt.InfinityModifier = pgtype.Infinity
			params.AfterID = pgtype.UUID{Bytes: [16]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, Valid: true}
		default:
			params.AfterCreatedAt.InfinityModifier = pgtype.NegativeInfinity
			params.AfterID = pgtype.UUID{Valid: true}
		}
		var rows []tenantdb.Project
		err = tenants.ReadTenant(ctx, t, func(ctx context.Context, q *tenantdb.Queries) error {
			var qerr error
			if descending {
				rows, qerr = q.ListProjectsDesc(ctx, tenantdb.ListProjectsDescParams(params))
			} else {
				rows, qerr = q.ListProjects(ctx, params)
			}
			return qerr
		})
		if err != nil {
			return nil, err
		}
		rows, next := page(rows, in.Limit, func(r tenantdb.Project) (time.Time, string) { return r.CreatedAt.Time, r.ID.String() })
		out := &listProjectsOutput{}
		out.Body.NextCursor = next
		out.Body.Items = make([]projectBody, len(rows))
		for i := range rows {
			out.Body.Items[i] = projectFrom(rows[i])
		}
		return out, nil
	}))
}

type updateProjectInput struct {
	ID      string `path:"id" format:"uuid" doc:"The project's id"`
	RawBody []byte
	Body    projectFields
}

// handleUpdateProject changes the fields a request gives and keeps the
// others; a nullable field given as null becomes null.
func handleUpdateProject(tenants Tenants) endpoint {
	return newEndpoint(huma.Operation{
		OperationID: "update-project",
		Summary:     "Change some fields of one of the tenant's projects",
		Tags:        []string{"Projects"},
	}, tenantScoped(func(ctx context.Context, t domain.Tenant, in *updateProjectInput) (*projectOutput, error) {
		id, err := projectID(in.ID)
		if err != nil {
			return nil, err
		}
		var given map[string]json.RawMessage
		if jerr := json.Unmarshal(in.RawBody, &given); jerr != nil {
			return nil, domain.Errorf(domain.EINVALID, "the body is not a JSON object")
		}
		p := in.Body.params()
		p.ID = id
		_, p.SetName = given["name"]
		var body projectBody
		err = tenants.InTenant(ctx, t, func(ctx context.Context, u *postgres.Unit) error {
			before, qerr := u.Queries.GetProject(ctx, id)
			if qerr != nil {
				return qerr
			}
			r, qerr := u.Queries.UpdateProject(ctx, p)
			if qerr != nil {
				return qerr
			}
			body = projectFrom(r)
			return u.Audit(ctx, "project.update", "project:"+body.ID, projectFrom(before), body)
		})
		if err != nil {
			return nil, projectKind.error(err, in.ID)
		}
		return &projectOutput{Body: body}, nil
	}))
}

func handleDeleteProject(tenants Tenants) endpoint {
	return newEndpoint(huma.Operation{
		OperationID:   "delete-project",
		DefaultStatus: http.StatusNoContent,
		Summary:       "Delete one of the tenant's projects",
		Tags:          []string{"Projects"},
	}, tenantScoped(func(ctx context.Context, t domain.Tenant, in *projectIDInput) (*struct{}, error) {
		id, err := projectID(in.ID)
		if err != nil {
			return nil, err
		}
		err = tenants.InTenant(ctx, t, func(ctx context.Context, u *postgres.Unit) error {
			r, qerr := u.Queries.DeleteProject(ctx, id)
			if qerr != nil {
				return qerr
			}
			before := projectFrom(r)
			return u.Audit(ctx, "project.delete", "project:"+before.ID, before, nil)
		})
		if err != nil {
			return nil, projectKind.error(err, in.ID)
		}
		return nil, nil
	}))
}

// findProject looks a project up for object grants.
func findProject(tenants Tenants) objectFinder {
	return func(ctx context.Context, t domain.Tenant, id string) error {
		pid, err := projectID(id)
		if err != nil {
			return err
		}
		err = tenants.InTenant(ctx, t, func(ctx context.Context, u *postgres.Unit) error {
			_, qerr := u.Queries.GetProject(ctx, pid)
			return qerr
		})
		return projectKind.error(err, id)
	}
}

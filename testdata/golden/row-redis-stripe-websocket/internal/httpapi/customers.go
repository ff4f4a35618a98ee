package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/acme/shop-api/internal/domain"
	"github.com/acme/shop-api/internal/postgres"
	"github.com/acme/shop-api/internal/postgres/tenantdb"
)

// Customers are a tenant-scoped resource added with `saaskit add resource`.
// Every handler reaches them with the tenant of the request: reads of one
// row or one page through Tenants.ReadTenant (one round trip), changes
// through Tenants.InTenant, each recording an audit entry in the same
// transaction.

// customerKind names the table of Customers and, in messages, one of them.
var customerKind = resourceKind{table: "customers", label: "customer"}

// customerBody is a customer as the API shows it.
type customerBody struct {
	ID        string    `json:"id" format:"uuid"`
	Name      string    `json:"name"`
	Email     string    `json:"email"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

func customerFrom(r tenantdb.Customer) customerBody {
	return customerBody{
		ID:        r.ID.String(),
		Name:      r.Name,
		Email:     r.Email,
		CreatedAt: r.CreatedAt.Time,
		UpdatedAt: r.UpdatedAt.Time,
	}
}

// customerFields are a customer's fields as a request gives them: nil is
// absent (or null).
type customerFields struct {
	Name  *string `json:"name,omitempty" minLength:"1" maxLength:"200"`
	Email *string `json:"email,omitempty" minLength:"1" maxLength:"200"`
}

// params converts the fields to the update's parameters (the create takes
// the same values). No field is marked set.
func (f customerFields) params() tenantdb.UpdateCustomerParams {
	var p tenantdb.UpdateCustomerParams
	p.Name = pgText(f.Name)
	p.Email = pgText(f.Email)
	return p
}

type createCustomerInput struct {
	Body struct {
		Name  *string `json:"name" minLength:"1" maxLength:"200"`
		Email *string `json:"email" minLength:"1" maxLength:"200"`
	}
}

type customerOutput struct {
	Body customerBody
}

func handleCreateCustomer(tenants Tenants) endpoint {
	return newEndpoint(huma.Operation{
		OperationID:   "create-customer",
		DefaultStatus: http.StatusCreated,
		Summary:       "Create a customer in the tenant",
		Tags:          []string{"Customers"},
	}, tenantScoped(func(ctx context.Context, t domain.Tenant, in *createCustomerInput) (*customerOutput, error) {
		p := customerFields(in.Body).params()
		var body customerBody
		err := tenants.InTenant(ctx, t, func(ctx context.Context, u *postgres.Unit) error {
			r, qerr := u.Queries.CreateCustomer(ctx, tenantdb.CreateCustomerParams{
				Name:  p.Name,
				Email: p.Email,
			})
			if qerr != nil {
				return qerr
			}
			body = customerFrom(r)
			return u.Audit(ctx, "customer.create", "customer:"+body.ID, nil, body)
		})
		if err != nil {
			return nil, customerKind.error(err, "")
		}
		return &customerOutput{Body: body}, nil
	}))
}

type customerIDInput struct {
	ID string `path:"id" format:"uuid" doc:"The customer's id"`
}

// customerID parses a customer's id; one that is not a UUID names no customer.
func customerID(id string) (pgtype.UUID, error) {
	var pid pgtype.UUID
	if !isUUID(id) || pid.Scan(id) != nil {
		return pid, domain.Errorf(domain.ENOTFOUND, "No customer %s.", id)
	}
	return pid, nil
}

func handleGetCustomer(tenants Tenants) endpoint {
	return newEndpoint(huma.Operation{
		OperationID: "get-customer",
		Summary:     "Get one of the tenant's customers",
		Tags:        []string{"Customers"},
	}, tenantScoped(func(ctx context.Context, t domain.Tenant, in *customerIDInput) (*customerOutput, error) {
		id, err := customerID(in.ID)
		if err != nil {
			return nil, err
		}
		var r tenantdb.Customer
		err = tenants.ReadTenant(ctx, t, func(ctx context.Context, q *tenantdb.Queries) error {
			var qerr error
			r, qerr = q.GetCustomer(ctx, id)
			return qerr
		})
		if err != nil {
			return nil, customerKind.error(err, in.ID)
		}
		return &customerOutput{Body: customerFrom(r)}, nil
	}))
}

type listCustomersInput struct {
	Limit  int    `query:"limit" minimum:"1" maximum:"100" default:"20" doc:"Page size"`
	Cursor string `query:"cursor" doc:"next_cursor of the previous page"`
	Sort   string `query:"sort" enum:"created_at,-created_at" default:"created_at" doc:"Creation order, oldest first, or newest first with -created_at"`
	Email  string `query:"email" doc:"Only customers whose email is this"`
}

type listCustomersOutput struct {
	Body struct {
		Items      []customerBody `json:"items"`
		NextCursor string         `json:"next_cursor" doc:"Pass as cursor for the next page; empty on the last page"`
	}
}

// handleListCustomers pages through the tenant's customers in creation order.
func handleListCustomers(tenants Tenants) endpoint {
	return newEndpoint(huma.Operation{
		OperationID: "list-customers",
		Summary:     "List the tenant's customers",
		Tags:        []string{"Customers"},
	}, tenantScoped(func(ctx context.Context, t domain.Tenant, in *listCustomersInput) (*listCustomersOutput, error) {
		after, err := decodeCursor(in.Cursor)
		if err != nil {
			return nil, err
		}
		descending := in.Sort == "-created_at"
		params := tenantdb.ListCustomersParams{
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
		params.Email = pgText(queryString(in.Email))
		var rows []tenantdb.Customer
		err = tenants.ReadTenant(ctx, t, func(ctx context.Context, q *tenantdb.Queries) error {
			var qerr error
			if descending {
				rows, qerr = q.ListCustomersDesc(ctx, tenantdb.ListCustomersDescParams(params))
			} else {
				rows, qerr = q.ListCustomers(ctx, params)
			}
			return qerr
		})
		if err != nil {
			return nil, err
		}
		rows, next := page(rows, in.Limit, func(r tenantdb.Customer) (time.Time, string) { return r.CreatedAt.Time, r.ID.String() })
		out := &listCustomersOutput{}
		out.Body.NextCursor = next
		out.Body.Items = make([]customerBody, len(rows))
		for i := range rows {
			out.Body.Items[i] = customerFrom(rows[i])
		}
		return out, nil
	}))
}

type updateCustomerInput struct {
	ID      string `path:"id" format:"uuid" doc:"The customer's id"`
	RawBody []byte
	Body    customerFields
}

// handleUpdateCustomer changes the fields a request gives and keeps the
// others; a nullable field given as null becomes null.
func handleUpdateCustomer(tenants Tenants) endpoint {
	return newEndpoint(huma.Operation{
		OperationID: "update-customer",
		Summary:     "Change some fields of one of the tenant's customers",
		Tags:        []string{"Customers"},
	}, tenantScoped(func(ctx context.Context, t domain.Tenant, in *updateCustomerInput) (*customerOutput, error) {
		id, err := customerID(in.ID)
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
		_, p.SetEmail = given["email"]
		var body customerBody
		err = tenants.InTenant(ctx, t, func(ctx context.Context, u *postgres.Unit) error {
			before, qerr := u.Queries.GetCustomer(ctx, id)
			if qerr != nil {
				return qerr
			}
			r, qerr := u.Queries.UpdateCustomer(ctx, p)
			if qerr != nil {
				return qerr
			}
			body = customerFrom(r)
			return u.Audit(ctx, "customer.update", "customer:"+body.ID, customerFrom(before), body)
		})
		if err != nil {
			return nil, customerKind.error(err, in.ID)
		}
		return &customerOutput{Body: body}, nil
	}))
}

func handleDeleteCustomer(tenants Tenants) endpoint {
	return newEndpoint(huma.Operation{
		OperationID:   "delete-customer",
		DefaultStatus: http.StatusNoContent,
		Summary:       "Delete one of the tenant's customers",
		Tags:          []string{"Customers"},
	}, tenantScoped(func(ctx context.Context, t domain.Tenant, in *customerIDInput) (*struct{}, error) {
		id, err := customerID(in.ID)
		if err != nil {
			return nil, err
		}
		err = tenants.InTenant(ctx, t, func(ctx context.Context, u *postgres.Unit) error {
			r, qerr := u.Queries.DeleteCustomer(ctx, id)
			if qerr != nil {
				return qerr
			}
			before := customerFrom(r)
			return u.Audit(ctx, "customer.delete", "customer:"+before.ID, before, nil)
		})
		if err != nil {
			return nil, customerKind.error(err, in.ID)
		}
		return nil, nil
	}))
}

// findCustomer looks a customer up for object grants.
func findCustomer(tenants Tenants) objectFinder {
	return func(ctx context.Context, t domain.Tenant, id string) error {
		pid, err := customerID(id)
		if err != nil {
			return err
		}
		err = tenants.InTenant(ctx, t, func(ctx context.Context, u *postgres.Unit) error {
			_, qerr := u.Queries.GetCustomer(ctx, pid)
			return qerr
		})
		return customerKind.error(err, id)
	}
}

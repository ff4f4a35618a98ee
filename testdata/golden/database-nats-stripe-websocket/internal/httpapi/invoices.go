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

// Invoices are a tenant-scoped resource added with `saaskit add resource`.
// Every handler reaches them with the tenant of the request: reads of one
// row or one page through Tenants.ReadTenant (one round trip), changes
// through Tenants.InTenant, each recording an audit entry in the same
// transaction.

// invoiceKind names the table of Invoices and, in messages, one of them.
var invoiceKind = resourceKind{table: "invoices", label: "invoice"}

// invoiceBody is a invoice as the API shows it.
type invoiceBody struct {
	ID          string          `json:"id" format:"uuid"`
	Number      string          `json:"number"`
	Title       *string         `json:"title" nullable:"true"`
	AmountCents int64           `json:"amount_cents"`
	Qty         int32           `json:"qty"`
	Paid        bool            `json:"paid"`
	Total       *string         `json:"total" nullable:"true"`
	DueAt       *time.Time      `json:"due_at" nullable:"true"`
	IssuedOn    *string         `json:"issued_on" nullable:"true"`
	Ext         *string         `json:"ext" nullable:"true"`
	Meta        json.RawMessage `json:"meta"`
	CustomerID  *string         `json:"customer_id" nullable:"true"`
	Status      string          `json:"status"`
	Code        string          `json:"code"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
}

func invoiceFrom(r tenantdb.Invoice) invoiceBody {
	return invoiceBody{
		ID:          r.ID.String(),
		Number:      r.Number,
		Title:       textPtr(r.Title),
		AmountCents: r.AmountCents,
		Qty:         r.Qty,
		Paid:        r.Paid,
		Total:       numericPtr(r.Total),
		DueAt:       timePtr(r.DueAt),
		IssuedOn:    datePtr(r.IssuedOn),
		Ext:         uuidPtr(r.Ext),
		Meta:        json.RawMessage(r.Meta),
		CustomerID:  uuidPtr(r.CustomerID),
		Status:      r.Status,
		Code:        r.Code,
		CreatedAt:   r.CreatedAt.Time,
		UpdatedAt:   r.UpdatedAt.Time,
	}
}

// invoiceFields are a invoice's fields as a request gives them: nil is
// absent (or null).
type invoiceFields struct {
	Number      *string         `json:"number,omitempty" minLength:"1" maxLength:"200"`
	Title       *string         `json:"title,omitempty" nullable:"true"`
	AmountCents *int64          `json:"amount_cents,omitempty"`
	Qty         *int32          `json:"qty,omitempty"`
	Paid        *bool           `json:"paid,omitempty"`
	Total       *string         `json:"total,omitempty" nullable:"true"`
	DueAt       *time.Time      `json:"due_at,omitempty" nullable:"true"`
	IssuedOn    *string         `json:"issued_on,omitempty" format:"date" nullable:"true"`
	Ext         *string         `json:"ext,omitempty" format:"uuid" nullable:"true"`
	Meta        json.RawMessage `json:"meta,omitempty"`
	CustomerID  *string         `json:"customer_id,omitempty" format:"uuid" nullable:"true"`
	Status      *string         `json:"status,omitempty" enum:"draft,open,paid"`
	Code        *string         `json:"code,omitempty" minLength:"1" maxLength:"200"`
}

// params converts the fields to the update's parameters (the create takes
// the same values), refusing malformed ones. No field is marked set.
func (f invoiceFields) params() (tenantdb.UpdateInvoiceParams, error) {
	var p tenantdb.UpdateInvoiceParams
	var err error
	p.Number = pgText(f.Number)
	p.Title = pgText(f.Title)
	p.AmountCents = pgInt8(f.AmountCents)
	p.Qty = pgInt4(f.Qty)
	p.Paid = pgBool(f.Paid)
	if p.Total, err = pgNumeric("total", f.Total); err != nil {
		return p, err
	}
	p.DueAt = pgTimestamptz(f.DueAt)
	if p.IssuedOn, err = pgDate("issued_on", f.IssuedOn); err != nil {
		return p, err
	}
	if p.Ext, err = pgUUID("ext", f.Ext); err != nil {
		return p, err
	}
	p.Meta = jsonParam(f.Meta)
	if p.CustomerID, err = pgUUID("customer_id", f.CustomerID); err != nil {
		return p, err
	}
	p.Status = pgText(f.Status)
	p.Code = pgText(f.Code)
	return p, nil
}

type createInvoiceInput struct {
	Body struct {
		Number      *string         `json:"number" minLength:"1" maxLength:"200"`
		Title       *string         `json:"title,omitempty" nullable:"true"`
		AmountCents *int64          `json:"amount_cents"`
		Qty         *int32          `json:"qty,omitempty" default:"1"`
		Paid        *bool           `json:"paid,omitempty" default:"false"`
		Total       *string         `json:"total,omitempty" nullable:"true"`
		DueAt       *time.Time      `json:"due_at,omitempty" nullable:"true"`
		IssuedOn    *string         `json:"issued_on,omitempty" format:"date" nullable:"true"`
		Ext         *string         `json:"ext,omitempty" format:"uuid" nullable:"true"`
		Meta        json.RawMessage `json:"meta,omitempty"`
		CustomerID  *string         `json:"customer_id,omitempty" format:"uuid" nullable:"true"`
		Status      *string         `json:"status,omitempty" enum:"draft,open,paid" default:"draft"`
		Code        *string         `json:"code" minLength:"1" maxLength:"200"`
	}
}

type invoiceOutput struct {
	Body invoiceBody
}

func handleCreateInvoice(tenants Tenants) endpoint {
	return newEndpoint(huma.Operation{
		OperationID:   "create-invoice",
		DefaultStatus: http.StatusCreated,
		Summary:       "Create a invoice in the tenant",
		Tags:          []string{"Invoices"},
	}, tenantScoped(func(ctx context.Context, t domain.Tenant, in *createInvoiceInput) (*invoiceOutput, error) {
		p, err := invoiceFields(in.Body).params()
		if err != nil {
			return nil, err
		}
		var body invoiceBody
		err = tenants.InTenant(ctx, t, func(ctx context.Context, u *postgres.Unit) error {
			r, qerr := u.Queries.CreateInvoice(ctx, tenantdb.CreateInvoiceParams{
				Number:      p.Number,
				Title:       p.Title,
				AmountCents: p.AmountCents,
				Qty:         p.Qty,
				Paid:        p.Paid,
				Total:       p.Total,
				DueAt:       p.DueAt,
				IssuedOn:    p.IssuedOn,
				Ext:         p.Ext,
				Meta:        p.Meta,
				CustomerID:  p.CustomerID,
				Status:      p.Status,
				Code:        p.Code,
			})
			if qerr != nil {
				return qerr
			}
			body = invoiceFrom(r)
			return u.Audit(ctx, "invoice.create", "invoice:"+body.ID, nil, body)
		})
		if err != nil {
			return nil, invoiceKind.error(err, "")
		}
		return &invoiceOutput{Body: body}, nil
	}))
}

type invoiceIDInput struct {
	ID string `path:"id" format:"uuid" doc:"The invoice's id"`
}

// invoiceID parses a invoice's id; one that is not a UUID names no invoice.
func invoiceID(id string) (pgtype.UUID, error) {
	var pid pgtype.UUID
	if !isUUID(id) || pid.Scan(id) != nil {
		return pid, domain.Errorf(domain.ENOTFOUND, "No invoice %s.", id)
	}
	return pid, nil
}

func handleGetInvoice(tenants Tenants) endpoint {
	return newEndpoint(huma.Operation{
		OperationID: "get-invoice",
		Summary:     "Get one of the tenant's invoices",
		Tags:        []string{"Invoices"},
	}, tenantScoped(func(ctx context.Context, t domain.Tenant, in *invoiceIDInput) (*invoiceOutput, error) {
		id, err := invoiceID(in.ID)
		if err != nil {
			return nil, err
		}
		var r tenantdb.Invoice
		err = tenants.ReadTenant(ctx, t, func(ctx context.Context, q *tenantdb.Queries) error {
			var qerr error
			r, qerr = q.GetInvoice(ctx, id)
			return qerr
		})
		if err != nil {
			return nil, invoiceKind.error(err, in.ID)
		}
		return &invoiceOutput{Body: invoiceFrom(r)}, nil
	}))
}

type listInvoicesInput struct {
	Limit      int    `query:"limit" minimum:"1" maximum:"100" default:"20" doc:"Page size"`
	Cursor     string `query:"cursor" doc:"next_cursor of the previous page"`
	Sort       string `query:"sort" enum:"created_at,-created_at" default:"created_at" doc:"Creation order, oldest first, or newest first with -created_at"`
	Number     string `query:"number" doc:"Only invoices whose number is this"`
	Paid       string `query:"paid" enum:"true,false" doc:"Only invoices whose paid is this"`
	Ext        string `query:"ext" format:"uuid" doc:"Only invoices whose ext is this"`
	CustomerID string `query:"customer_id" format:"uuid" doc:"Only invoices whose customer_id is this"`
	Status     string `query:"status" enum:"draft,open,paid" doc:"Only invoices whose status is this"`
	Code       string `query:"code" doc:"Only invoices whose code is this"`
}

type listInvoicesOutput struct {
	Body struct {
		Items      []invoiceBody `json:"items"`
		NextCursor string        `json:"next_cursor" doc:"Pass as cursor for the next page; empty on the last page"`
	}
}

// handleListInvoices pages through the tenant's invoices in creation order.
func handleListInvoices(tenants Tenants) endpoint {
	return newEndpoint(huma.Operation{
		OperationID: "list-invoices",
		Summary:     "List the tenant's invoices",
		Tags:        []string{"Invoices"},
	}, tenantScoped(func(ctx context.Context, t domain.Tenant, in *listInvoicesInput) (*listInvoicesOutput, error) {
		after, err := decodeCursor(in.Cursor)
		if err != nil {
			return nil, err
		}
		descending := in.Sort == "-created_at"
		params := tenantdb.ListInvoicesParams{
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
		params.Number = pgText(queryString(in.Number))
		params.Paid = pgBool(queryBool(in.Paid))
		if params.Ext, err = pgUUID("ext", queryString(in.Ext)); err != nil {
			return nil, err
		}
		if params.CustomerID, err = pgUUID("customer_id", queryString(in.CustomerID)); err != nil {
			return nil, err
		}
		params.Status = pgText(queryString(in.Status))
		params.Code = pgText(queryString(in.Code))
		var rows []tenantdb.Invoice
		err = tenants.ReadTenant(ctx, t, func(ctx context.Context, q *tenantdb.Queries) error {
			var qerr error
			if descending {
				rows, qerr = q.ListInvoicesDesc(ctx, tenantdb.ListInvoicesDescParams(params))
			} else {
				rows, qerr = q.ListInvoices(ctx, params)
			}
			return qerr
		})
		if err != nil {
			return nil, err
		}
		rows, next := page(rows, in.Limit, func(r tenantdb.Invoice) (time.Time, string) { return r.CreatedAt.Time, r.ID.String() })
		out := &listInvoicesOutput{}
		out.Body.NextCursor = next
		out.Body.Items = make([]invoiceBody, len(rows))
		for i := range rows {
			out.Body.Items[i] = invoiceFrom(rows[i])
		}
		return out, nil
	}))
}

type updateInvoiceInput struct {
	ID      string `path:"id" format:"uuid" doc:"The invoice's id"`
	RawBody []byte
	Body    invoiceFields
}

// handleUpdateInvoice changes the fields a request gives and keeps the
// others; a nullable field given as null becomes null.
func handleUpdateInvoice(tenants Tenants) endpoint {
	return newEndpoint(huma.Operation{
		OperationID: "update-invoice",
		Summary:     "Change some fields of one of the tenant's invoices",
		Tags:        []string{"Invoices"},
	}, tenantScoped(func(ctx context.Context, t domain.Tenant, in *updateInvoiceInput) (*invoiceOutput, error) {
		id, err := invoiceID(in.ID)
		if err != nil {
			return nil, err
		}
		var given map[string]json.RawMessage
		if jerr := json.Unmarshal(in.RawBody, &given); jerr != nil {
			return nil, domain.Errorf(domain.EINVALID, "the body is not a JSON object")
		}
		p, err := in.Body.params()
		if err != nil {
			return nil, err
		}
		p.ID = id
		_, p.SetNumber = given["number"]
		_, p.SetTitle = given["title"]
		_, p.SetAmountCents = given["amount_cents"]
		_, p.SetQty = given["qty"]
		_, p.SetPaid = given["paid"]
		_, p.SetTotal = given["total"]
		_, p.SetDueAt = given["due_at"]
		_, p.SetIssuedOn = given["issued_on"]
		_, p.SetExt = given["ext"]
		_, p.SetMeta = given["meta"]
		_, p.SetCustomerID = given["customer_id"]
		_, p.SetStatus = given["status"]
		_, p.SetCode = given["code"]
		var body invoiceBody
		err = tenants.InTenant(ctx, t, func(ctx context.Context, u *postgres.Unit) error {
			before, qerr := u.Queries.GetInvoice(ctx, id)
			if qerr != nil {
				return qerr
			}
			r, qerr := u.Queries.UpdateInvoice(ctx, p)
			if qerr != nil {
				return qerr
			}
			body = invoiceFrom(r)
			return u.Audit(ctx, "invoice.update", "invoice:"+body.ID, invoiceFrom(before), body)
		})
		if err != nil {
			return nil, invoiceKind.error(err, in.ID)
		}
		return &invoiceOutput{Body: body}, nil
	}))
}

func handleDeleteInvoice(tenants Tenants) endpoint {
	return newEndpoint(huma.Operation{
		OperationID:   "delete-invoice",
		DefaultStatus: http.StatusNoContent,
		Summary:       "Delete one of the tenant's invoices",
		Tags:          []string{"Invoices"},
	}, tenantScoped(func(ctx context.Context, t domain.Tenant, in *invoiceIDInput) (*struct{}, error) {
		id, err := invoiceID(in.ID)
		if err != nil {
			return nil, err
		}
		err = tenants.InTenant(ctx, t, func(ctx context.Context, u *postgres.Unit) error {
			r, qerr := u.Queries.DeleteInvoice(ctx, id)
			if qerr != nil {
				return qerr
			}
			before := invoiceFrom(r)
			return u.Audit(ctx, "invoice.delete", "invoice:"+before.ID, before, nil)
		})
		if err != nil {
			return nil, invoiceKind.error(err, in.ID)
		}
		return nil, nil
	}))
}

// findInvoice looks a invoice up for object grants.
func findInvoice(tenants Tenants) objectFinder {
	return func(ctx context.Context, t domain.Tenant, id string) error {
		pid, err := invoiceID(id)
		if err != nil {
			return err
		}
		err = tenants.InTenant(ctx, t, func(ctx context.Context, u *postgres.Unit) error {
			_, qerr := u.Queries.GetInvoice(ctx, pid)
			return qerr
		})
		return invoiceKind.error(err, id)
	}
}

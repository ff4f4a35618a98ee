package httpapi

import (
	"net/http"
	"reflect"
	"slices"
	"strings"

	"github.com/danielgtaylor/huma/v2"
)

// rawKey marks, in an operation's metadata, an operation served outside
// huma, whose input huma does not validate (so never answers 422).
const rawKey = "raw"

// tagDescriptions describe the OpenAPI document's tags, in the order the
// docs list them; a resource added later gets a description of its own
// (see completeDocument).
var tagDescriptions = []struct{ name, description string }{
	{"Identity", "Sign up, sign in and out, and the caller's own account."},
	{"Tenants", "The tenants (organisations) the caller belongs to, and creating them."},
	{"Members", "A tenant's members and invitations."},
	{"Roles and grants", "Custom roles built from permissions, and grants of a permission on one object."},
	{"API keys", "Keys a program uses to act in one tenant with one role."},
	{"Audit", "The tenant's append-only, hash-chained audit log."},
	{"Events", "Realtime events of the tenant over a WebSocket."},
	{"Billing", "The tenant's subscription: plans, checkout, the customer portal and Stripe's webhook."},
	{"Operations", "Health and readiness, for load balancers and orchestrators."},
}

// completeDocument finishes the OpenAPI document once every route is
// registered, so that what every operation can answer is in it however the
// operation was declared (including those `saaskit add resource` adds):
//
//   - every operation documents 400 (credentials in the query string, or
//     no tenant named), 500, and 422 when huma validates any input of it,
//     besides what its guard and its maker documented;
//   - every error response has the problem+json body it is sent with;
//   - every tag is declared, with a description;
//   - the one server is this one ("/"): the document is served by the API
//     it describes, wherever that is deployed.
func completeDocument(r *router) {
	doc := r.api.OpenAPI()
	doc.Servers = []*huma.Server{{URL: "/", Description: "The server this document came from"}}
	problem := doc.Components.Schemas.Schema(reflect.TypeFor[huma.ErrorModel](), true, "")
	var tags []string
	for _, op := range operations(doc) {
		addResponse(op, "400", "The request is malformed: a credential in the query string, or no tenant named")
		if raw, _ := op.Metadata[rawKey].(bool); !raw && (op.RequestBody != nil || len(op.Parameters) > 0) {
			addResponse(op, "422", "The input breaks a rule; the problem's errors say which and where")
		}
		addResponse(op, "500", "An unexpected failure; the details are logged, never sent")
		problemBodies(op, problem)
		for _, tag := range op.Tags {
			if !slices.Contains(tags, tag) {
				tags = append(tags, tag)
			}
		}
	}
	doc.Tags = nil
	for _, t := range tagDescriptions {
		if slices.Contains(tags, t.name) {
			doc.Tags = append(doc.Tags, &huma.Tag{Name: t.name, Description: t.description})
		}
	}
	slices.Sort(tags)
	for _, tag := range tags {
		known := slices.ContainsFunc(tagDescriptions, func(t struct{ name, description string }) bool { return t.name == tag })
		if !known {
			doc.Tags = append(doc.Tags, &huma.Tag{Name: tag, Description: "The tenant's " + strings.ToLower(tag) + "."})
		}
	}
}

// operations returns every operation of doc, by path and method.
func operations(doc *huma.OpenAPI) []*huma.Operation {
	paths := make([]string, 0, len(doc.Paths))
	for path := range doc.Paths {
		paths = append(paths, path)
	}
	slices.Sort(paths)
	var ops []*huma.Operation
	for _, path := range paths {
		item := doc.Paths[path]
		for _, op := range []*huma.Operation{item.Get, item.Post, item.Put, item.Patch, item.Delete} {
			if op != nil {
				ops = append(ops, op)
			}
		}
	}
	return ops
}

// problemBodies gives every error response of op the problem+json body
// (the schema problem refers to) that errors are sent with.
func problemBodies(op *huma.Operation, problem *huma.Schema) {
	for code, res := range op.Responses {
		if code[0] != '4' && code[0] != '5' || res.Content != nil {
			continue
		}
		res.Content = map[string]*huma.MediaType{"application/problem+json": {Schema: problem}}
	}
}

// tenantParam is the X-Tenant header of every tenant-scoped operation.
// It is optional: the subdomain names the tenant too, and an API key
// names its own.
func tenantParam() *huma.Param {
	return &huma.Param{
		Name: TenantHeader, In: "header",
		Description: "Slug of the tenant, when the request does not come to its subdomain of the base domain " +
			"or with one of its API keys (which name their tenant).",
		Schema: &huma.Schema{Type: "string", Examples: []any{"acme"}},
	}
}

// documentTenant declares the X-Tenant header on op, once.
func documentTenant(op *huma.Operation) {
	for _, p := range op.Parameters {
		if p.In == "header" && http.CanonicalHeaderKey(p.Name) == TenantHeader {
			return
		}
	}
	op.Parameters = append(op.Parameters, tenantParam())
}

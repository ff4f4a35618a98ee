package httpapi

import (
	"net/http"

	"github.com/danielgtaylor/huma/v2"
)

// Stripe's webhook in the OpenAPI document.
const (
	// schemeStripe is the security scheme of the webhook: Stripe's
	// signature of the body, not a bearer token.
	schemeStripe = "stripeSignature"
	// stripeWebhookOperation is the webhook's operation id.
	stripeWebhookOperation = "stripe-webhook"
	stripeWebhookPattern   = "POST /v1/webhooks/stripe"
)

// documentBilling puts the webhook, which is served outside huma (it reads
// the raw body to verify it), in the OpenAPI document as Stripe sees it: an
// operation with its own security scheme and responses.
func documentBilling(r *router) {
	doc := r.api.OpenAPI()
	if doc.Components.SecuritySchemes == nil {
		doc.Components.SecuritySchemes = map[string]*huma.SecurityScheme{}
	}
	doc.Components.SecuritySchemes[schemeStripe] = &huma.SecurityScheme{
		Type: "apiKey", In: "header", Name: "Stripe-Signature",
		Description: "Stripe's HMAC-SHA256 signature of the raw body with the endpoint's signing secret (STRIPE_WEBHOOK_SECRET), " +
			"and its timestamp: at most 5 minutes old, never in the future.",
	}
	g := stripeSigned()
	op := &huma.Operation{
		OperationID: stripeWebhookOperation,
		Method:      http.MethodPost,
		Path:        "/v1/webhooks/stripe",
		Summary:     "Receive a Stripe event",
		Description: "Stripe's webhook endpoint. A verified event is stored once (by its id) and its processing enqueued " +
			"in the same transaction; the answer comes without a call to Stripe. A duplicate is answered 200 and changes nothing.\n\n" +
			"Requires: " + g.String() + ".",
		Tags:       []string{"Billing"},
		Security:   []map[string][]string{{schemeStripe: {}}},
		Metadata:   map[string]any{guardKey: g, rawKey: true},
		Extensions: map[string]any{"x-permission": g.String()},
		RequestBody: &huma.RequestBody{
			Required:    true,
			Description: "A Stripe event, exactly as Stripe sent it (the signature covers these bytes)",
			Content:     map[string]*huma.MediaType{"application/json": {Schema: &huma.Schema{Type: "object"}}},
		},
		Responses: map[string]*huma.Response{
			"200": {Description: "Stored (or already stored)", Content: map[string]*huma.MediaType{"application/json": {Schema: &huma.Schema{
				Type: "object", Properties: map[string]*huma.Schema{"received": {Type: "boolean"}},
			}}}},
			"400": {Description: "The Stripe-Signature does not verify, its timestamp is stale or in the future, or the body is no event; nothing is stored"},
			"413": {Description: "The body is larger than an event can be; nothing is stored"},
			"503": {Description: "The event could not be stored; Stripe sends it again"},
		},
	}
	doc.AddOperation(op)
	for i := range r.routes {
		if route := &r.routes[i]; route.Pattern == stripeWebhookPattern {
			route.OperationID, route.Infrastructure = op.OperationID, false
		}
	}
}

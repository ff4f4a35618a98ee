package httpapi_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/acme/shop-api/internal/httpapi"
)

// TestOpenAPIDocumentsBilling checks the billing part of the OpenAPI
// document: every billing route is an operation, the webhook with Stripe's
// signature as its security scheme, and every error response of theirs has
// the problem+json body.
func TestOpenAPIDocumentsBilling(t *testing.T) {
	t.Parallel()
	h, err := httpapi.NewHandler(httpapi.Deps{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/openapi.json", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	var doc struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			SecuritySchemes map[string]struct {
				Type string `json:"type"`
				In   string `json:"in"`
				Name string `json:"name"`
			} `json:"securitySchemes"`
		} `json:"components"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &doc))
	scheme := doc.Components.SecuritySchemes["stripeSignature"]
	require.Equal(t, "apiKey", scheme.Type)
	require.Equal(t, "header", scheme.In)
	require.Equal(t, "Stripe-Signature", scheme.Name)

	want := map[string]string{
		"POST /v1/billing/checkout":    "billing-checkout",
		"POST /v1/billing/portal":      "billing-portal",
		"GET /v1/billing/subscription": "billing-subscription",
		"POST /v1/webhooks/stripe":     "stripe-webhook",
	}
	for pattern, id := range want {
		method, path, _ := strings.Cut(pattern, " ")
		raw, ok := doc.Paths[path][strings.ToLower(method)]
		require.True(t, ok, "%s is in the document", pattern)
		var op struct {
			OperationID string `json:"operationId"`
			Responses   map[string]struct {
				Content map[string]struct {
					Schema struct {
						Ref string `json:"$ref"`
					} `json:"schema"`
				} `json:"content"`
			} `json:"responses"`
		}
		require.NoError(t, json.Unmarshal(raw, &op))
		require.Equal(t, id, op.OperationID)
		errors := 0
		for code, res := range op.Responses {
			if code[0] == '4' || code[0] == '5' {
				errors++
				require.Equal(t, "#/components/schemas/ErrorModel", res.Content["application/problem+json"].Schema.Ref, "%s answers %s", pattern, code)
			}
		}
		require.NotZero(t, errors, "%s documents its errors", pattern)
	}
	require.Contains(t, string(doc.Paths["/v1/webhooks/stripe"]["post"]), `"security":[{"stripeSignature":[]}]`)
}

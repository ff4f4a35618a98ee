package httpapi_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/acme/shop-api/internal/testsvc"
)

// BenchmarkStripeWebhookIntake posts signed Stripe events to
// POST /v1/webhooks/stripe, 16 at once, with no worker running: each is
// verified, stored and its processing enqueued in one transaction, then
// answered 200. It reports events/s.
//
//	go test ./internal/httpapi -run '^$' -bench BenchmarkStripeWebhookIntake -benchtime 10s
func BenchmarkStripeWebhookIntake(b *testing.B) {
	api, _ := setupAPIOn(b, testsvc.NewTenancyConfig(b), bundleOptions{})
	var seq atomic.Int64
	run := time.Now().UnixNano()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			payload := fmt.Appendf(nil, `{"id":"evt_bench_%d_%d","object":"event","type":"invoice.paid","created":%d,"api_version":%q,`+
				`"data":{"object":{"id":"in_1","object":"invoice","subscription":"sub_nobody"}}}`,
				run, seq.Add(1), time.Now().Unix(), stripe.APIVersion)
			signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: testsvc.TestWebhookSecret})
			req := httptest.NewRequestWithContext(context.Background(), http.MethodPost, "/v1/webhooks/stripe", bytes.NewReader(signed.Payload))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Stripe-Signature", signed.Header)
			rec := httptest.NewRecorder()
			api.handler.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Errorf("status %d: %s", rec.Code, rec.Body)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

package broker_test

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/acme/shop-api/internal/broker"
)

// The pub/sub tests run against whichever broker the app uses, through
// its openTest.

func TestPubSubDeliversToTheTopicsSubscribers(t *testing.T) {
	t.Parallel()
	ps := openTest(t)
	tenantA, tenantB := randomTenant(), randomTenant()
	a := broker.Topic{Tenant: tenantA, Name: "events"}

	gotA1, err := ps.Subscribe(t.Context(), a)
	require.NoError(t, err)
	gotA2, err := ps.Subscribe(t.Context(), a)
	require.NoError(t, err)
	gotB, err := ps.Subscribe(t.Context(), broker.Topic{Tenant: tenantB, Name: "events"})
	require.NoError(t, err)
	gotOther, err := ps.Subscribe(t.Context(), broker.Topic{Tenant: tenantA, Name: "other"})
	require.NoError(t, err)

	require.NoError(t, ps.Publish(t.Context(), a, []byte(`{"kind":"project.created"}`)))
	for _, got := range []<-chan []byte{gotA1, gotA2} {
		require.JSONEq(t, `{"kind":"project.created"}`, string(receive(t, got)), "every subscriber of the topic gets it")
	}
	for _, got := range []<-chan []byte{gotB, gotOther} {
		select {
		case m := <-got:
			require.Failf(t, "message on another topic", "got %s", m)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func TestPubSubSubscriptionEndsWithItsContext(t *testing.T) {
	t.Parallel()
	ps := openTest(t)
	ctx, cancel := context.WithCancel(t.Context())
	got, err := ps.Subscribe(ctx, broker.Topic{Tenant: randomTenant(), Name: "events"})
	require.NoError(t, err)
	cancel()
	require.Eventually(t, func() bool {
		select {
		case _, ok := <-got:
			return !ok
		default:
			return false
		}
	}, 5*time.Second, 10*time.Millisecond, "the channel closes")
}

func TestPubSubRefusesBadTopics(t *testing.T) {
	t.Parallel()
	ps := openTest(t)
	for _, topic := range []broker.Topic{
		{Tenant: "", Name: "events"},
		{Tenant: "acme", Name: ""},
		{Tenant: "acme", Name: "Events"},
		{Tenant: "acme", Name: "a.b"},
		{Tenant: "acme", Name: "a*"},
		{Tenant: strings.Repeat("a", 40), Name: strings.Repeat("b", 23)},
	} {
		require.Error(t, ps.Publish(t.Context(), topic, []byte("x")), "publish on %+v", topic)
		_, err := ps.Subscribe(t.Context(), topic)
		require.Error(t, err, "subscribe to %+v", topic)
	}
}

func randomTenant() string {
	return strings.ToLower(rand.Text()[:12])
}

func receive(t *testing.T, got <-chan []byte) []byte {
	t.Helper()
	select {
	case m, ok := <-got:
		require.True(t, ok, "subscription closed early")
		return m
	case <-time.After(5 * time.Second):
		require.FailNow(t, "no message within 5s")
		return nil
	}
}

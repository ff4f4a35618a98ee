package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"github.com/acme/shop-api/internal/broker"
	"github.com/acme/shop-api/internal/domain"
	"github.com/acme/shop-api/internal/postgres"
)

// These tests drive a Hub over an in-memory pub/sub and identity, to
// reach what a live broker cannot show on demand: a stalled client, a
// replay window, limits, shutdown. The tests over the live broker and
// database are httpapi's (events_test.go).

// memPubSub is broker.PubSub in memory, delivering synchronously.
type memPubSub struct {
	mu   sync.Mutex
	subs map[broker.Topic][]chan []byte
}

func (m *memPubSub) Publish(_ context.Context, topic broker.Topic, payload []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, ch := range m.subs[topic] {
		ch <- payload
	}
	return nil
}

func (m *memPubSub) Subscribe(ctx context.Context, topic broker.Topic) (<-chan []byte, error) {
	ch := make(chan []byte, 1024)
	m.mu.Lock()
	if m.subs == nil {
		m.subs = map[broker.Topic][]chan []byte{}
	}
	m.subs[topic] = append(m.subs[topic], ch)
	m.mu.Unlock()
	go func() {
		<-ctx.Done()
		m.mu.Lock()
		defer m.mu.Unlock()
		subs := m.subs[topic]
		for i, c := range subs {
			if c == ch {
				m.subs[topic] = slices.Delete(subs, i, i+1)
				close(ch)
				return
			}
		}
	}()
	return ch, nil
}

// slowPubSub is a memPubSub whose subscriptions take a while to be made,
// as a broker's may (a round trip, a reconnection).
type slowPubSub struct {
	memPubSub

	delay time.Duration
}

func (m *slowPubSub) Subscribe(ctx context.Context, topic broker.Topic) (<-chan []byte, error) {
	time.Sleep(m.delay)
	return m.memPubSub.Subscribe(ctx, topic)
}

// ownerIdentity says every token is a live owner of every tenant, except
// the revoked ones.
type ownerIdentity struct {
	mu      sync.Mutex
	revoked map[string]bool
}

func (o *ownerIdentity) Authenticate(_ context.Context, token string) (domain.Principal, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.revoked[token] {
		return domain.Principal{}, domain.Errorf(domain.EUNAUTHORIZED, "revoked")
	}
	return domain.Principal{UserID: "user-" + token}, nil
}

func (o *ownerIdentity) Access(_ context.Context, p domain.Principal, t domain.Tenant) (domain.Access, error) {
	return domain.Access{Tenant: t, Principal: p, Role: domain.RoleOwner, Permissions: domain.BuiltinPermissions(domain.RoleOwner)}, nil
}

func (o *ownerIdentity) HasGrant(context.Context, domain.Access, domain.Permission, string) (bool, error) {
	return false, nil
}

func (o *ownerIdentity) Resolve(_ context.Context, slug string) (domain.Tenant, error) {
	return testTenant(slug), nil
}

func (o *ownerIdentity) revoke(token string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.revoked == nil {
		o.revoked = map[string]bool{}
	}
	o.revoked[token] = true
}

func testTenant(slug string) domain.Tenant {
	return domain.Tenant{ID: "00000000-0000-4000-8000-" + strings.Repeat("0", 12-len(slug)) + slug, Slug: slug}
}

// memHistory keeps events in memory and replays after a known id.
type memHistory struct{ events []postgres.Event }

func (h memHistory) EventsSince(_ context.Context, _ domain.Tenant, afterID string, limit int) ([]postgres.Event, error) {
	for i := range h.events {
		if h.events[i].ID == afterID {
			rest := h.events[i+1:]
			return rest[:min(limit, len(rest))], nil
		}
	}
	return nil, ErrGap
}

// testHub serves a hub over ps at a test server; clients connect as
// token to tenant slug with dial.
type testHub struct {
	*Hub
	ps       broker.PubSub
	identity *ownerIdentity
	srv      *httptest.Server
}

func newTestHub(t *testing.T, opts Options) *testHub {
	t.Helper()
	return newHubOn(t, &memPubSub{}, opts)
}

// newHubOn serves a hub over ps; it shuts down when the test ends.
func newHubOn(tb testing.TB, ps broker.PubSub, opts Options) *testHub {
	tb.Helper()
	h := &testHub{ps: ps, identity: &ownerIdentity{}}
	opts.PubSub, opts.Identity, opts.Tenants = h.ps, h.identity, h.identity
	hub, err := NewHub(tb.Context(), opts)
	require.NoError(tb, err)
	h.Hub = hub
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tenant := testTenant(r.URL.Query().Get("tenant"))
		token := r.URL.Query().Get("as")
		a, _ := h.identity.Access(r.Context(), domain.Principal{UserID: "user-" + token}, tenant)
		hub.Serve(w, r, Client{Token: token, Tenant: tenant, Access: a, LastEventID: r.URL.Query().Get("last")})
	}))
	tb.Cleanup(h.close)
	return h
}

// close shuts the hub down, then its server.
func (h *testHub) close() {
	h.Shutdown()
	h.srv.Close()
}

func (h *testHub) dial(t *testing.T, query string) *websocket.Conn {
	t.Helper()
	// coder/websocket closes the handshake response's body itself.
	ws, _, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(h.srv.URL, "http")+"/?"+query, nil) //nolint:bodyclose // see above
	require.NoError(t, err)
	t.Cleanup(func() { _ = ws.CloseNow() })
	return ws
}

// publish sends an event on a project of tenant acme.
func (h *testHub) publish(t *testing.T, id, targetID string) {
	t.Helper()
	NewPublisher(h.ps, h.opts.Logger).Publish(t.Context(), postgres.Event{
		ID: id, Tenant: testTenant("acme"), Type: "project.create", TargetType: "project", TargetID: targetID, At: time.Now(),
	})
}

// waitSockets waits until the hub holds n sockets.
func (h *testHub) waitSockets(t *testing.T, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return h.Sockets() == n }, 5*time.Second, 5*time.Millisecond, "sockets held")
}

func read(t *testing.T, ws *websocket.Conn) Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, data, err := ws.Read(ctx)
	require.NoError(t, err)
	var m Message
	require.NoError(t, json.Unmarshal(data, &m))
	return m
}

// closeStatus reads until the socket closes and returns its close code.
func closeStatus(t *testing.T, ws *websocket.Conn, within time.Duration) (websocket.StatusCode, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), within)
	defer cancel()
	for {
		_, _, err := ws.Read(ctx)
		if err == nil {
			continue
		}
		if ce, ok := errors.AsType[websocket.CloseError](err); ok {
			return ce.Code, ce.Reason
		}
		require.NoError(t, ctx.Err(), "the socket was not closed in time")
		return -1, err.Error()
	}
}

func TestAStalledClientDoesNotDelayOthers(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, Options{SendBuffer: 8, WriteTimeout: time.Second})
	stalled := h.dial(t, "tenant=acme&as=slow") // never reads
	fast := h.dial(t, "tenant=acme&as=fast")
	h.waitSockets(t, 2)

	// Large events fill the stalled client's TCP buffers, then its send
	// buffer: it is dropped while the other client keeps getting every
	// event at once.
	big := strings.Repeat("x", 16<<10)
	for i := 0; !h.dropped("user-slow"); i++ {
		require.Less(t, i, 5000, "the stalled client was never dropped")
		id := strconv.Itoa(i)
		start := time.Now()
		h.publish(t, id, big)
		m := read(t, fast)
		require.Equal(t, id, m.ID)
		require.Less(t, time.Since(start), time.Second, "the stalled client held the other back")
	}
	h.waitSockets(t, 1) // once its last write timed out
	h.publish(t, "after", "p")
	require.Equal(t, "after", read(t, fast).ID)
	code, _ := closeStatus(t, stalled, 5*time.Second)
	require.NotEqual(t, websocket.StatusNormalClosure, code, "the stalled client learns it was dropped")
}

// dropped reports whether the hub has given up on user's socket (it may
// still be finishing its last write).
func (h *testHub) dropped(user string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.all {
		if s.userID == user {
			select {
			case <-s.done:
				return true
			default:
				return false
			}
		}
	}
	return true
}

func TestAClientSeesEveryEventOnceItsHandshakeEnded(t *testing.T) {
	t.Parallel()
	// The tenant's subscription takes a while: the handshake waits for it,
	// so an event published as soon as the client is connected (the event
	// of the client's own act, say) still reaches it.
	h := newHubOn(t, &slowPubSub{delay: 300 * time.Millisecond}, Options{})
	ws := h.dial(t, "tenant=acme&as=a")
	h.publish(t, "1", "p")
	require.Equal(t, "1", read(t, ws).ID)
}

func TestReconnectReplaysTheGapOrAsksForAResync(t *testing.T) {
	t.Parallel()
	history := memHistory{}
	for i := 1; i <= 5; i++ {
		history.events = append(history.events, postgres.Event{ID: strconv.Itoa(i), Tenant: testTenant("acme"), Type: "project.create", TargetType: "project", TargetID: "p" + strconv.Itoa(i)})
	}
	h := newTestHub(t, Options{History: history, ReplayLimit: 3})

	ws := h.dial(t, "tenant=acme&as=a&last=3")
	require.Equal(t, "4", read(t, ws).ID, "what was missed first, in order")
	require.Equal(t, "5", read(t, ws).ID)
	h.publish(t, "5", "p5") // delivered live too: sent once
	h.publish(t, "6", "p6")
	require.Equal(t, "6", read(t, ws).ID, "then live, without repeating a replayed event")

	for name, last := range map[string]string{"an unknown id": "nope", "a gap beyond the window": "1"} {
		ws := h.dial(t, "tenant=acme&as=a&last="+last)
		require.Equal(t, Message{Type: ResyncType}, read(t, ws), name)
	}
}

func TestRevocationClosesTheSocketWithinTheBound(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, Options{})
	keep := h.dial(t, "tenant=acme&as=keep")
	gone := h.dial(t, "tenant=acme&as=gone")
	h.waitSockets(t, 2)

	h.identity.revoke("gone")
	start := time.Now()
	NewPublisher(h.ps, h.opts.Logger).Revoke(t.Context(), Revocation{User: "user-gone"})
	code, reason := closeStatus(t, gone, RevocationBound)
	require.Equal(t, websocket.StatusPolicyViolation, code)
	require.Equal(t, reasonRevoked, reason)
	require.Less(t, time.Since(start), RevocationBound)

	h.publish(t, "1", "p")
	require.Equal(t, "1", read(t, keep).ID, "the others stay")
}

func TestLimitsPerUserAndTenant(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, Options{MaxPerUser: 1, MaxPerTenant: 2})
	h.dial(t, "tenant=acme&as=a")
	h.waitSockets(t, 1)
	code, reason := closeStatus(t, h.dial(t, "tenant=acme&as=a"), 5*time.Second)
	require.Equal(t, websocket.StatusTryAgainLater, code)
	require.Equal(t, reasonUserLimit, reason)

	h.dial(t, "tenant=acme&as=b")
	h.waitSockets(t, 2)
	code, reason = closeStatus(t, h.dial(t, "tenant=acme&as=c"), 5*time.Second)
	require.Equal(t, websocket.StatusTryAgainLater, code)
	require.Equal(t, reasonTenant, reason)
	h.dial(t, "tenant=globex&as=c") // another tenant has room
	h.waitSockets(t, 3)
}

func TestShutdownClosesWithGoingAway(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, Options{})
	ws := h.dial(t, "tenant=acme&as=a")
	h.waitSockets(t, 1)
	go h.Shutdown()
	code, reason := closeStatus(t, ws, 5*time.Second)
	require.Equal(t, websocket.StatusGoingAway, code)
	require.Equal(t, reasonShutdown, reason)
}

func TestADeadClientIsDroppedByPing(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, Options{PingInterval: 50 * time.Millisecond, PongTimeout: 100 * time.Millisecond})
	h.dial(t, "tenant=acme&as=a") // never reads, so never answers a ping
	h.waitSockets(t, 1)
	h.waitSockets(t, 0)
}

func TestAClientThatLeavesIsForgottenAtOnce(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, Options{}) // pings every 25 s: the goodbye alone ends the socket
	ws := h.dial(t, "tenant=acme&as=a")
	h.waitSockets(t, 1)
	require.NoError(t, ws.Close(websocket.StatusNormalClosure, "bye"), "the server answers the goodbye")
	h.waitSockets(t, 0)

	gone := h.dial(t, "tenant=acme&as=b")
	h.waitSockets(t, 1)
	require.NoError(t, gone.CloseNow()) // no goodbye: the connection just ends
	h.waitSockets(t, 0)
}

func TestAClientThatSendsIsClosed(t *testing.T) {
	t.Parallel()
	h := newTestHub(t, Options{})
	ws := h.dial(t, "tenant=acme&as=a")
	h.waitSockets(t, 1)
	require.NoError(t, ws.Write(t.Context(), websocket.MessageText, []byte(`{"type":"hello"}`)))
	code, reason := closeStatus(t, ws, 5*time.Second)
	require.Equal(t, websocket.StatusPolicyViolation, code)
	require.Equal(t, reasonData, reason)
	h.waitSockets(t, 0)
}

func TestTicketsAreSingleUseAndExpire(t *testing.T) {
	t.Parallel()
	ts := NewTickets()
	now := time.Now()
	ts.now = func() time.Time { return now }
	client := Client{Token: "st_x", Tenant: testTenant("acme")}
	id, ok := ts.Issue(client)
	require.True(t, ok)
	require.True(t, strings.HasPrefix(id, ticketPrefix))
	got, ok := ts.Redeem(id)
	require.True(t, ok)
	require.Equal(t, client, got)
	_, ok = ts.Redeem(id)
	require.False(t, ok, "a ticket works once")

	id, _ = ts.Issue(client)
	now = now.Add(TicketTTL + time.Second)
	_, ok = ts.Redeem(id)
	require.False(t, ok, "an expired ticket does not work")
}

// A frame the client sends in the same write as its handshake reaches
// net/http's buffer before the connection is hijacked; the socket's lean
// buffers must hand it to coder/websocket, which would otherwise misread
// every frame after it.
func TestAFrameBehindTheHandshakeIsRead(t *testing.T) {
	t.Parallel()
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(leanHijacker{w}, r, nil)
		if err != nil {
			got <- "accept: " + err.Error()
			return
		}
		defer ws.CloseNow() //nolint:errcheck // the test is over
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		_, data, err := ws.Read(ctx)
		if err != nil {
			got <- "read: " + err.Error()
			return
		}
		got <- string(data)
	}))
	t.Cleanup(srv.Close)

	conn, err := (&net.Dialer{}).DialContext(t.Context(), "tcp", srv.Listener.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	handshake := "GET / HTTP/1.1\r\nHost: " + srv.Listener.Addr().String() + "\r\n" +
		"Upgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	// A final text frame "hi", masked with a zero key (so sent as is).
	frame := []byte{0x81, 0x80 | 2, 0, 0, 0, 0, 'h', 'i'}
	_, err = conn.Write(append([]byte(handshake), frame...))
	require.NoError(t, err)
	select {
	case s := <-got:
		require.Equal(t, "hi", s)
	case <-time.After(10 * time.Second):
		t.Fatal("the server never read the frame")
	}
}

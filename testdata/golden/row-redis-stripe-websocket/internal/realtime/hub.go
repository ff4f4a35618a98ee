package realtime

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/acme/shop-api/internal/broker"
	"github.com/acme/shop-api/internal/domain"
)

// Identity is what the Hub asks to re-check a client and decide what it
// may see; httpapi.Identity and postgres.Identity are ones.
type Identity interface {
	// Authenticate returns who a bearer token belongs to, or EUNAUTHORIZED.
	Authenticate(ctx context.Context, token string) (domain.Principal, error)
	// Access returns what p may do in t, or ENOTFOUND when p is not in it.
	Access(ctx context.Context, p domain.Principal, t domain.Tenant) (domain.Access, error)
	// HasGrant reports whether an object grant gives a perm on objectID.
	HasGrant(ctx context.Context, a domain.Access, perm domain.Permission, objectID string) (bool, error)
}

// Tenants resolves a client's tenant when it is re-checked;
// postgres.Tenants is one.
type Tenants interface {
	// Resolve returns the active tenant with slug, or ENOTFOUND
	// (suspended or gone).
	Resolve(ctx context.Context, slug string) (domain.Tenant, error)
}

// Options configure a Hub. Zero values take the defaults below.
type Options struct {
	// PubSub carries events and revocations between instances.
	PubSub broker.PubSub
	// Identity and Tenants re-check clients and decide what they may see.
	Identity Identity
	Tenants  Tenants
	// History replays what a reconnecting client missed; nil means every
	// reconnection with a last event id is told to resync.
	History History
	// Logger receives what goes wrong; nil discards it.
	Logger *slog.Logger
	// AllowedOrigins are the host patterns (path.Match syntax, such as
	// "app.example.com" or "*.example.com") of the web pages allowed to
	// connect besides the API's own host. Clients sending no Origin (not
	// browsers) are always allowed.
	AllowedOrigins []string
	// MaxPerUser and MaxPerTenant bound the sockets one user (an API key
	// counts as its creator) and one tenant hold on this instance.
	MaxPerUser, MaxPerTenant int
	// SendBuffer is how many events may wait for a slow client; one more
	// closes its socket (StatusTryAgainLater), so it never holds others up.
	SendBuffer int
	// PingInterval is how often a client is pinged; one that does not
	// answer within PongTimeout, or takes longer than WriteTimeout to take
	// a message, is dropped.
	PingInterval, PongTimeout, WriteTimeout time.Duration
	// RecheckInterval is how often every client's access is re-checked even
	// without a revocation message: the bound should one be lost.
	RecheckInterval time.Duration
	// ReplayLimit is the most events a reconnecting client is replayed;
	// beyond it, it must resync.
	ReplayLimit int
}

// Defaults of Options.
const (
	DefaultMaxPerUser      = 20
	DefaultMaxPerTenant    = 2000
	DefaultSendBuffer      = 64
	DefaultPingInterval    = 25 * time.Second
	DefaultPongTimeout     = 10 * time.Second
	DefaultWriteTimeout    = 5 * time.Second
	DefaultRecheckInterval = time.Minute
	DefaultReplayLimit     = 500
)

// RevocationBound is how soon, after a revocation was published, the
// sockets it concerns are closed: the broker's delivery and one re-check
// (an authentication and an access query) take well under it.
const RevocationBound = 2 * time.Second

// Close codes and their reasons, so that a client knows why it was closed.
const (
	reasonRevoked   = "access revoked"
	reasonSlow      = "too slow: the send buffer is full"
	reasonUserLimit = "too many connections for this user"
	reasonTenant    = "too many connections for this tenant"
	reasonShutdown  = "server shutting down"
	reasonData      = "clients only listen: unexpected data message"
)

// Client is an authenticated caller of a tenant, as the route's guard
// established it.
type Client struct {
	// Token is the bearer token (a session token or an API key) the
	// client authenticated with; re-checks authenticate it again. It never
	// leaves the process.
	Token  string
	Tenant domain.Tenant
	Access domain.Access
	// LastEventID is the id of the last event the client saw, when it
	// reconnects: what it missed is replayed first.
	LastEventID string
}

// Hub holds one instance's sockets and their tenants' subscriptions.
type Hub struct {
	opts Options
	// ctx is what the hub's subscriptions run in; Shutdown ends it.
	ctx    context.Context //nolint:containedctx // the hub outlives the call that made it, and its subscriptions end with it
	cancel context.CancelFunc
	// socketCtx is what sockets do their work in: ctx's values without its
	// end, since a socket goes on through Shutdown to say goodbye.
	socketCtx context.Context //nolint:containedctx // as ctx

	mu      sync.Mutex
	tenants map[string]*tenantSubscription // by tenant id
	users   map[string]int                 // sockets per user id
	all     map[*socket]struct{}
	closed  bool
	wg      sync.WaitGroup
}

// tenantSubscription is the instance's one subscription to a tenant's
// events, shared by its sockets here.
type tenantSubscription struct {
	ready   chan struct{} // closed once subscribed (or failed: err)
	err     error
	cancel  context.CancelFunc
	sockets map[*socket]struct{}
}

// NewHub starts a Hub: it listens for revocations until Shutdown.
func NewHub(ctx context.Context, opts Options) (*Hub, error) {
	if opts.PubSub == nil || opts.Identity == nil || opts.Tenants == nil {
		return nil, errors.New("realtime: a hub needs a pub/sub, the identity and the tenants")
	}
	opts.Logger = cmp.Or(opts.Logger, slog.New(slog.DiscardHandler))
	opts.MaxPerUser = cmp.Or(opts.MaxPerUser, DefaultMaxPerUser)
	opts.MaxPerTenant = cmp.Or(opts.MaxPerTenant, DefaultMaxPerTenant)
	opts.SendBuffer = cmp.Or(opts.SendBuffer, DefaultSendBuffer)
	opts.PingInterval = cmp.Or(opts.PingInterval, DefaultPingInterval)
	opts.PongTimeout = cmp.Or(opts.PongTimeout, DefaultPongTimeout)
	opts.WriteTimeout = cmp.Or(opts.WriteTimeout, DefaultWriteTimeout)
	opts.RecheckInterval = cmp.Or(opts.RecheckInterval, DefaultRecheckInterval)
	opts.ReplayLimit = cmp.Or(opts.ReplayLimit, DefaultReplayLimit)
	hubCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	h := &Hub{
		opts: opts, ctx: hubCtx, cancel: cancel, socketCtx: context.WithoutCancel(hubCtx),
		tenants: map[string]*tenantSubscription{}, users: map[string]int{}, all: map[*socket]struct{}{},
	}
	control, err := opts.PubSub.Subscribe(hubCtx, broker.Topic{Tenant: controlScope, Name: controlTopic})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("realtime: subscribe to revocations: %w", err)
	}
	h.wg.Go(func() { h.revocations(control) })
	return h, nil
}

// revocations has the sockets each revocation matches re-check.
func (h *Hub) revocations(control <-chan []byte) {
	for payload := range control {
		var r Revocation
		if err := json.Unmarshal(payload, &r); err != nil {
			h.opts.Logger.WarnContext(h.ctx, "bad revocation message", slog.Any("error", err))
			continue
		}
		h.mu.Lock()
		for s := range h.all {
			if r.matches(s.client.Tenant.ID, s.userID, s.keyID) {
				s.recheckSoon()
			}
		}
		h.mu.Unlock()
	}
}

// Serve upgrades the request to a WebSocket and sends client its tenant's
// events until the client goes, its access is revoked, it falls behind or
// the hub shuts down. The request's Origin must be the API's own host or
// match AllowedOrigins (clients sending none are not browsers).
func (h *Hub) Serve(w http.ResponseWriter, r *http.Request, client Client) {
	// The socket joins its tenant's subscription before the handshake is
	// answered: once the client sees the connection open, every event
	// published from then on reaches it (what comes before the handshake
	// ends waits in the socket's buffer). A client that connects, then
	// acts, sees the event of its act.
	s := newSocket(h, client)
	code, reason, joined := h.join(s) //nolint:contextcheck // the tenant's subscription outlives this socket: it runs in the hub's context
	ws, err := websocket.Accept(leanHijacker{w}, r, &websocket.AcceptOptions{OriginPatterns: h.opts.AllowedOrigins})
	if err != nil {
		if joined {
			h.leave(s)
		}
		return // Accept answered (403 for a foreign origin, 400 for a bad handshake)
	}
	if !joined {
		_ = ws.Close(code, reason)
		return
	}
	// The socket lives on after this handler returns: its goroutine and
	// what the request held are not kept for an idle socket.
	s.start(ws)
	if client.LastEventID != "" && !s.replay(r.Context()) {
		s.drop()
	}
	s.serve() // what came meanwhile, or the end of a socket dropped above
}

// join registers s with its tenant's subscription (subscribing first when
// it is the tenant's first socket here), within the limits.
func (h *Hub) join(s *socket) (websocket.StatusCode, string, bool) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return websocket.StatusGoingAway, reasonShutdown, false
	}
	if h.users[s.userID] >= h.opts.MaxPerUser {
		h.mu.Unlock()
		return websocket.StatusTryAgainLater, reasonUserLimit, false
	}
	tenantID := s.client.Tenant.ID
	sub := h.tenants[tenantID]
	if sub != nil && len(sub.sockets) >= h.opts.MaxPerTenant {
		h.mu.Unlock()
		return websocket.StatusTryAgainLater, reasonTenant, false
	}
	first := sub == nil
	if first {
		ctx, cancel := context.WithCancel(h.ctx)
		sub = &tenantSubscription{ready: make(chan struct{}), cancel: cancel, sockets: map[*socket]struct{}{}}
		h.tenants[tenantID] = sub
		h.wg.Go(func() { h.subscribe(ctx, tenantID, sub) })
	}
	sub.sockets[s] = struct{}{}
	h.all[s] = struct{}{}
	h.users[s.userID]++
	h.wg.Add(1) // done in leave: Shutdown waits for the socket's goodbye
	h.mu.Unlock()

	<-sub.ready
	if sub.err != nil {
		h.leave(s)
		return websocket.StatusTryAgainLater, "events unavailable, try again later", false
	}
	return 0, "", true
}

// subscribe listens on the tenant's topic and hands each event to the
// tenant's sockets here, until the last of them leaves.
func (h *Hub) subscribe(ctx context.Context, tenantID string, sub *tenantSubscription) {
	events, err := h.opts.PubSub.Subscribe(ctx, broker.Topic{Tenant: tenantID, Name: eventsTopic})
	if err != nil {
		h.opts.Logger.ErrorContext(ctx, "could not subscribe to a tenant's events", slog.String("tenant_id", tenantID), slog.Any("error", err))
		h.mu.Lock()
		sub.err = err
		if h.tenants[tenantID] == sub {
			delete(h.tenants, tenantID)
		}
		h.mu.Unlock()
		close(sub.ready)
		return
	}
	close(sub.ready)
	var sockets []*socket
	for payload := range events {
		// Every socket that may see it is sent the payload as it came:
		// the Publisher's JSON of the Message, read once here to check it.
		m := &Message{payload: payload}
		if json.Unmarshal(payload, m) != nil || m.Target == nil {
			h.opts.Logger.WarnContext(ctx, "bad event message", slog.String("tenant_id", tenantID))
			continue
		}
		h.mu.Lock()
		sockets = sockets[:0]
		for s := range sub.sockets {
			sockets = append(sockets, s)
		}
		h.mu.Unlock()
		for _, s := range sockets {
			s.offer(m)
		}
	}
}

// leave unregisters s; the tenant's subscription ends with its last socket.
func (h *Hub) leave(s *socket) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.all[s]; !ok {
		return
	}
	delete(h.all, s)
	h.wg.Done()
	h.users[s.userID]--
	if h.users[s.userID] <= 0 {
		delete(h.users, s.userID)
	}
	tenantID := s.client.Tenant.ID
	if sub := h.tenants[tenantID]; sub != nil {
		delete(sub.sockets, s)
		if len(sub.sockets) == 0 {
			sub.cancel()
			delete(h.tenants, tenantID)
		}
	}
}

// Shutdown closes every socket with StatusGoingAway, refuses new ones and
// stops listening. Call it when the server shuts down: http.Server.Shutdown
// does not wait for hijacked connections such as WebSockets.
func (h *Hub) Shutdown() {
	h.mu.Lock()
	h.closed = true
	for s := range h.all {
		s.kill(websocket.StatusGoingAway, reasonShutdown)
	}
	h.mu.Unlock()
	h.cancel()
	h.wg.Wait()
}

// Sockets is how many sockets the hub serves: joined, and their tenant's
// subscription confirmed, so that every event published from now on
// reaches them (one whose handshake is being answered keeps those in its
// buffer). A socket whose subscription is still being made is not counted
// yet.
func (h *Hub) Sockets() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, sub := range h.tenants {
		select {
		case <-sub.ready:
			if sub.err == nil {
				n += len(sub.sockets)
			}
		default:
		}
	}
	return n
}

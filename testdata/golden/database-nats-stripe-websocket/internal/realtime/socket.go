package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/coder/websocket"

	"ledger.internal/svc/internal/domain"
)

// socket is one client's WebSocket. Events reach it through a bounded
// buffer (offer never blocks the tenant's dispatch); its own goroutine
// (run) checks each against the client's access and writes it, pings, and
// re-checks the access when told to or periodically.
type socket struct {
	hub    *Hub
	ws     *websocket.Conn
	client Client
	userID string
	keyID  string
	send   chan *Message // shared by every socket: never changed
	// recheck asks run to re-check the client's access (a revocation).
	recheck chan struct{}

	once   sync.Once
	done   chan struct{} // closed by kill
	code   websocket.StatusCode
	reason string
}

func newSocket(h *Hub, ws *websocket.Conn, c Client) *socket {
	s := &socket{
		hub: h, ws: ws, client: c, userID: c.Access.Principal.UserID,
		send: make(chan *Message, h.opts.SendBuffer), recheck: make(chan struct{}, 1), done: make(chan struct{}),
	}
	if c.Access.Principal.APIKey != nil {
		s.keyID = c.Access.Principal.APIKey.ID
	}
	return s
}

// offer queues m for the client, or closes a client too slow to take it.
func (s *socket) offer(m *Message) {
	select {
	case s.send <- m:
	default:
		s.kill(websocket.StatusTryAgainLater, reasonSlow)
	}
}

// kill closes the socket with code and reason (the first reason given
// wins), from any goroutine.
func (s *socket) kill(code websocket.StatusCode, reason string) {
	s.once.Do(func() {
		s.code, s.reason = code, reason
		close(s.done)
	})
}

// recheckSoon asks for a re-check of the client's access.
func (s *socket) recheckSoon() {
	select {
	case s.recheck <- struct{}{}:
	default: // one is pending already
	}
}

// run serves the socket until ctx ends (the client went) or it is killed.
func (s *socket) run(ctx context.Context) {
	opts := s.hub.opts
	log := opts.Logger.With(slog.String("tenant", s.client.Tenant.Slug), slog.String("user_id", s.userID))
	seen := map[string]bool{} // replayed ids, not sent twice when they arrive live too
	if s.client.LastEventID != "" && !s.replay(ctx, log, seen) {
		s.drop()
		return
	}
	ping := time.NewTicker(opts.PingInterval)
	defer ping.Stop()
	recheck := time.NewTicker(opts.RecheckInterval)
	defer recheck.Stop()
	for {
		select {
		case <-ctx.Done():
			s.drop()
			return
		case <-s.done:
			s.close()
			return
		case m := <-s.send:
			if seen[m.ID] {
				delete(seen, m.ID)
				continue
			}
			if s.maySee(ctx, log, *m) && !s.write(ctx, *m) {
				s.drop()
				return
			}
		case <-ping.C:
			pingCtx, cancel := context.WithTimeout(ctx, opts.PongTimeout)
			err := s.ws.Ping(pingCtx)
			cancel()
			if err != nil {
				s.drop() // dead: no goodbye to wait for
				return
			}
		case <-recheck.C:
			s.check(ctx, log)
		case <-s.recheck:
			s.check(ctx, log)
		}
	}
}

// replay sends what the client missed since its last event id, or a
// resync message when that cannot be done; it reports false when the
// socket is gone.
func (s *socket) replay(ctx context.Context, log *slog.Logger, seen map[string]bool) bool {
	opts := s.hub.opts
	var events []Message
	resync := opts.History == nil
	if !resync {
		missed, err := opts.History.EventsSince(ctx, s.client.Tenant, s.client.LastEventID, opts.ReplayLimit)
		switch {
		case err != nil:
			resync = true
			if !errors.Is(err, ErrGap) {
				log.InfoContext(ctx, "events not replayed: the client resyncs", slog.Any("error", err))
			}
		case len(missed) >= opts.ReplayLimit:
			resync = true // more missed than the window: reading afresh is cheaper
		default:
			events = make([]Message, 0, len(missed))
			for i := range missed {
				events = append(events, messageOf(missed[i]))
			}
		}
	}
	if resync {
		return s.write(ctx, Message{Type: ResyncType})
	}
	for _, m := range events {
		seen[m.ID] = true
		if s.maySee(ctx, log, m) && !s.write(ctx, m) {
			return false
		}
	}
	return true
}

// check re-authenticates the client and re-reads its access: a client
// whose token, membership, tenant or events:read is gone is closed
// (StatusPolicyViolation);
// its permissions are replaced by the current ones. An error of the
// database keeps the access it had: the next check decides.
func (s *socket) check(ctx context.Context, log *slog.Logger) {
	identity := s.hub.opts.Identity
	p, err := identity.Authenticate(ctx, s.client.Token)
	var t domain.Tenant
	if err == nil {
		t, err = s.hub.opts.Tenants.Resolve(ctx, s.client.Tenant.Slug)
	}
	var a domain.Access
	if err == nil {
		a, err = identity.Access(ctx, p, t)
	}
	switch code := domain.ErrorCode(err); {
	case err == nil && t.ID == s.client.Tenant.ID && a.Can(domain.EventsRead):
		s.client.Access = a
	case err == nil, code == domain.EUNAUTHORIZED, code == domain.ENOTFOUND:
		s.kill(websocket.StatusPolicyViolation, reasonRevoked)
	default:
		log.WarnContext(ctx, "could not re-check a realtime client's access", slog.Any("error", err))
	}
}

// maySee reports whether the client may see the event m: when its role
// reads the target's kind (the permission "<type>s:read", such as
// projects:read for a project), or an object grant gives it that on the
// target. Events on kinds without such a permission reach nobody.
func (s *socket) maySee(ctx context.Context, log *slog.Logger, m Message) bool {
	if m.Target == nil {
		return true // resync
	}
	perm := domain.Permission(m.Target.Type + "s:read")
	if !domain.KnownPermission(perm) {
		return false
	}
	a := s.client.Access
	if a.Can(perm) {
		return true
	}
	ok, err := s.hub.opts.Identity.HasGrant(ctx, a, perm, m.Target.ID)
	if err != nil {
		log.WarnContext(ctx, "could not check an object grant: event withheld", slog.Any("error", err))
	}
	return ok
}

// write sends m within WriteTimeout; it reports false when the socket is
// gone (a client that cannot take a message in time is dropped).
func (s *socket) write(ctx context.Context, m Message) bool {
	payload, err := json.Marshal(m)
	if err != nil {
		return false
	}
	writeCtx, cancel := context.WithTimeout(ctx, s.hub.opts.WriteTimeout)
	defer cancel()
	return s.ws.Write(writeCtx, websocket.MessageText, payload) == nil
}

// close ends the socket with the code and reason it was killed with,
// waiting for the client's goodbye (the library bounds that to seconds).
// A client dropped for being too slow is not waited for: its goodbye goes
// out, if its buffers ever drain, while the hub forgets it at once.
func (s *socket) close() {
	if s.reason == reasonSlow {
		go func() { _ = s.ws.Close(s.code, s.reason) }()
		return
	}
	_ = s.ws.Close(s.code, s.reason)
}

// drop ends the socket at once: the client went, stopped answering or
// cannot take a message in time, so there is no goodbye to wait for.
func (s *socket) drop() {
	s.kill(websocket.StatusNormalClosure, "")
	_ = s.ws.CloseNow()
}

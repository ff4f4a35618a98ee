package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"ledger.internal/svc/internal/domain"
)

// socket is one client's WebSocket. It has no goroutine of its own while
// idle (what an idle socket costs is memory: see bench/RESULTS.md): events
// reach it through a bounded queue (offer never blocks the tenant's
// dispatch), and whatever it has to do (write those it may see, ping,
// re-check its access, close) is done by a goroutine started when there is
// work and gone when there is none, one at a time. Its two timers make the
// ping and the periodic re-check due; its reader of pongs and close frames
// (read) is the one goroutine an idle socket keeps.
type socket struct {
	hub    *Hub
	ws     *websocket.Conn
	client Client
	userID string
	keyID  string
	// queue holds the events waiting for the client, SendBuffer at most:
	// nil while there are none, so an idle socket keeps no buffer.
	mu    sync.Mutex
	queue []*Message
	// gone is set once the client went (its connection's reading ended);
	// busy is true while a goroutine serves the socket, and for good once
	// it ended; due holds the work its timers made due (dueRecheck, duePing).
	gone          atomic.Bool
	busy          atomic.Bool
	due           atomic.Uint32
	ping, recheck *time.Timer
	seen          map[string]bool // replayed ids, not sent twice when they arrive live too

	once   sync.Once
	done   chan struct{} // closed by kill
	code   websocket.StatusCode
	reason string
}

// Work a socket's timers (or a revocation) make due.
const (
	dueRecheck uint32 = 1 << iota
	duePing
)

// newSocket returns the socket of client c, before its handshake is
// answered: events may be queued, and it may be killed, but nothing is
// done with them until start gives it its connection. It is busy: its
// first work is done by whoever opened it (Hub.Serve), which calls serve.
func newSocket(h *Hub, c Client) *socket {
	s := &socket{
		hub: h, client: c, userID: c.Access.Principal.UserID,
		done: make(chan struct{}),
	}
	s.busy.Store(true)
	if c.Access.Principal.APIKey != nil {
		s.keyID = c.Access.Principal.APIKey.ID
	}
	return s
}

// start gives the socket its connection, starts reading it and arms the
// timers. Only whoever holds the socket busy calls it.
func (s *socket) start(ws *websocket.Conn) {
	opts := s.hub.opts
	s.ws = ws
	go s.read()
	s.ping = time.AfterFunc(opts.PingInterval, func() { s.make(duePing) })
	s.recheck = time.AfterFunc(opts.RecheckInterval, func() { s.make(dueRecheck) })
}

// read reads the connection until it ends, so that the library handles
// pongs and close frames as they come; it is the one goroutine an idle
// socket keeps. Clients only listen: a data message closes the socket
// (StatusPolicyViolation). Its context has no end (the library would
// register a callback with one, for every socket): the reading ends with
// the connection.
func (s *socket) read() {
	_, _, err := s.ws.Reader(s.hub.socketCtx)
	if err == nil {
		s.kill(websocket.StatusPolicyViolation, reasonData)
		return
	}
	s.gone.Store(true)
	_ = s.ws.CloseNow() // ends a ping or write waiting on the client; waits for a Close under way
	s.wake()
}

// offer queues m for the client, or closes a client too slow to take it.
func (s *socket) offer(m *Message) {
	s.mu.Lock()
	full := len(s.queue) >= s.hub.opts.SendBuffer
	if !full {
		s.queue = append(s.queue, m)
	}
	s.mu.Unlock()
	if full {
		s.kill(websocket.StatusTryAgainLater, reasonSlow)
		return
	}
	s.wake()
}

// next takes the oldest event waiting for the client; false when none is.
func (s *socket) next() (*Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) == 0 {
		return nil, false
	}
	m := s.queue[0]
	if s.queue = s.queue[1:]; len(s.queue) == 0 {
		s.queue = nil // the buffer goes with the last event
	}
	return m, true
}

// queued reports whether events wait for the client.
func (s *socket) queued() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue) > 0
}

// kill closes the socket with code and reason (the first reason given
// wins), from any goroutine.
func (s *socket) kill(code websocket.StatusCode, reason string) {
	s.once.Do(func() {
		s.code, s.reason = code, reason
		close(s.done)
	})
	s.wake()
}

// recheckSoon asks for a re-check of the client's access.
func (s *socket) recheckSoon() {
	s.make(dueRecheck)
}

// make makes work due and has it done.
func (s *socket) make(work uint32) {
	s.due.Or(work)
	s.wake()
}

// wake starts a goroutine to serve the socket, unless one is at it.
func (s *socket) wake() {
	if s.busy.CompareAndSwap(false, true) {
		go s.serve()
	}
}

// serve does the socket's work until there is none (then it returns, and
// the next wake starts another goroutine) or the socket ended (then busy
// stays true: nothing starts again).
func (s *socket) serve() {
	for {
		if s.work(s.hub.socketCtx) {
			s.ping.Stop()
			s.recheck.Stop()
			s.hub.leave(s)
			return
		}
		s.busy.Store(false)
		// Work that came after the last look but before busy was cleared
		// found the socket busy: look again.
		if !s.pending() || !s.busy.CompareAndSwap(false, true) {
			return
		}
	}
}

// pending reports whether the socket has work.
func (s *socket) pending() bool {
	select {
	case <-s.done:
		return true
	default:
		return s.gone.Load() || s.due.Load() != 0 || s.queued()
	}
}

// work does what is pending; it reports true once the socket ended.
func (s *socket) work(ctx context.Context) bool {
	opts := s.hub.opts
	for {
		if s.gone.Load() {
			s.drop()
			return true
		}
		select {
		case <-s.done:
			s.close()
			return true
		default:
		}
		due := s.due.Swap(0)
		if due&duePing != 0 {
			pingCtx, cancel := context.WithTimeout(ctx, opts.PongTimeout)
			err := s.ws.Ping(pingCtx)
			cancel()
			if err != nil {
				s.drop() // dead: no goodbye to wait for
				return true
			}
			s.ping.Reset(opts.PingInterval)
		}
		if due&dueRecheck != 0 {
			s.check(ctx)
			s.recheck.Reset(opts.RecheckInterval)
		}
		if due != 0 {
			continue
		}
		m, ok := s.next()
		if !ok {
			return false
		}
		if s.seen[m.ID] {
			delete(s.seen, m.ID)
			continue
		}
		if s.maySee(ctx, *m) && !s.write(ctx, *m) {
			s.drop()
			return true
		}
	}
}

// replay sends what the client missed since its last event id, or a
// resync message when that cannot be done; it reports false when the
// socket is gone.
func (s *socket) replay(ctx context.Context) bool {
	opts := s.hub.opts
	var events []Message
	resync := opts.History == nil
	if !resync {
		missed, err := opts.History.EventsSince(ctx, s.client.Tenant, s.client.LastEventID, opts.ReplayLimit)
		switch {
		case err != nil:
			resync = true
			if !errors.Is(err, ErrGap) {
				s.log().InfoContext(ctx, "events not replayed: the client resyncs", slog.Any("error", err))
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
	s.seen = make(map[string]bool, len(events))
	for _, m := range events {
		s.seen[m.ID] = true
		if s.maySee(ctx, m) && !s.write(ctx, m) {
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
func (s *socket) check(ctx context.Context) {
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
		s.log().WarnContext(ctx, "could not re-check a realtime client's access", slog.Any("error", err))
	}
}

// maySee reports whether the client may see the event m: when its role
// reads the target's kind (the permission "<type>s:read", such as
// projects:read for a project), or an object grant gives it that on the
// target. Events on kinds without such a permission reach nobody.
func (s *socket) maySee(ctx context.Context, m Message) bool {
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
		s.log().WarnContext(ctx, "could not check an object grant: event withheld", slog.Any("error", err))
	}
	return ok
}

// log is the hub's logger, naming the socket's client: made when a
// problem is logged, never for an event delivered.
func (s *socket) log() *slog.Logger {
	return s.hub.opts.Logger.With(slog.String("tenant", s.client.Tenant.Slug), slog.String("user_id", s.userID))
}

// write sends m within WriteTimeout; it reports false when the socket is
// gone (a client that cannot take a message in time is dropped).
func (s *socket) write(ctx context.Context, m Message) bool {
	payload := m.payload
	if payload == nil {
		var err error
		if payload, err = json.Marshal(m); err != nil {
			return false
		}
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

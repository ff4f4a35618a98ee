package realtime

import (
	"crypto/rand"
	"encoding/base32"
	"sync"
	"time"
)

// TicketTTL is how long a ticket stays valid.
const TicketTTL = 30 * time.Second

// maxTickets bounds the tickets waiting at once, so that issuing them
// cannot grow memory without bound.
const maxTickets = 100_000

// Tickets let browsers, which cannot set headers on a WebSocket, connect:
// a signed-in caller gets a ticket (POST /v1/events/ticket) and passes it
// as ?ticket= within TicketTTL; it works once, for the tenant it was
// issued in, as the caller who got it. The caller's token stays in this
// process's memory: the URL carries only the short-lived, single-use
// ticket. A ticket is redeemed on the instance that issued it.
type Tickets struct {
	mu      sync.Mutex
	pending map[string]ticket
	now     func() time.Time
}

type ticket struct {
	client  Client
	expires time.Time
}

// NewTickets returns an empty ticket store.
func NewTickets() *Tickets {
	return &Tickets{pending: map[string]ticket{}, now: time.Now}
}

// ticketPrefix starts every ticket, so that it reads as what it is.
const ticketPrefix = "wt_"

// Issue returns a new ticket for client, and false when too many wait.
func (ts *Tickets) Issue(client Client) (string, bool) {
	var raw [20]byte
	_, _ = rand.Read(raw[:]) // crypto/rand never fails
	id := ticketPrefix + base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(raw[:])
	now := ts.now()
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if len(ts.pending) >= maxTickets {
		for k := range ts.pending {
			if now.After(ts.pending[k].expires) {
				delete(ts.pending, k)
			}
		}
		if len(ts.pending) >= maxTickets {
			return "", false
		}
	}
	ts.pending[id] = ticket{client: client, expires: now.Add(TicketTTL)}
	return id, true
}

// Redeem returns the client of ticket id and forgets it; false for a
// ticket unknown, used or expired.
func (ts *Tickets) Redeem(id string) (Client, bool) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	t, ok := ts.pending[id]
	delete(ts.pending, id)
	if !ok || ts.now().After(t.expires) {
		return Client{}, false
	}
	return t.client, true
}

package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/acme/shop-api/internal/domain"
	"github.com/acme/shop-api/internal/realtime"
)

// Realtime is what the events routes serve with: the instance's hub of
// WebSockets. With no Hub the routes answer 503. Revocations need nothing
// here: the control plane announces them once they committed.
type Realtime struct {
	Hub *realtime.Hub
}

// LastEventIDParam and LastEventIDHeader carry the id of the last event a
// reconnecting client saw; what it missed is replayed first.
const (
	LastEventIDParam  = "last_event_id"
	LastEventIDHeader = "Last-Event-ID"
	ticketParam       = "ticket"
)

// eventsGuard guards the WebSocket route: requires(events:read) with the
// usual Authorization and X-Tenant headers, or, for browsers (which cannot
// set headers on a WebSocket), a ticket of POST /v1/events/ticket in
// ?ticket=, which stands for the headers of the caller who got it, once.
type eventsGuard struct {
	tenantGuard
	tickets *realtime.Tickets
}

func eventsAccess(tickets *realtime.Tickets) guard {
	return eventsGuard{tenantGuard: tenantGuard{permission: domain.EventsRead}, tickets: tickets}
}

func (g eventsGuard) String() string {
	return g.tenantGuard.String() + " (or a ticket of POST /v1/events/ticket)"
}

// middlewares redeem a ticket into the credentials it stands for, then
// authenticate, resolve the tenant and check the permission as every
// tenant route does: a ticket outliving its caller's access lets nobody in.
func (g eventsGuard) middlewares(r *router) huma.Middlewares {
	return append(huma.Middlewares{func(ctx huma.Context, next func(huma.Context)) {
		id := ctx.Query(ticketParam)
		if id == "" {
			next(ctx)
			return
		}
		client, ok := g.tickets.Redeem(id)
		if !ok {
			r.unauthorized(ctx, "The ticket is unknown, used or expired: get a new one with POST /v1/events/ticket.")
			return
		}
		req, _ := humago.Unwrap(ctx)
		req.Header.Set("Authorization", "Bearer "+client.Token)
		req.Header.Set(TenantHeader, client.Tenant.Slug)
		next(ctx)
	}}, g.tenantGuard.middlewares(r)...)
}

type eventTicketOutput struct {
	Body struct {
		Ticket    string    `json:"ticket" doc:"Pass it as ?ticket= to GET /v1/events/ws: once, within 30 seconds"`
		ExpiresAt time.Time `json:"expires_at"`
	}
}

// handleEventTicket issues a ticket for the WebSocket of events.
func handleEventTicket(tickets *realtime.Tickets) endpoint {
	return newEndpoint(huma.Operation{
		OperationID:   "create-event-ticket",
		DefaultStatus: http.StatusCreated,
		Summary:       "Get a ticket for the events WebSocket",
		Description: "Browsers cannot set headers on a WebSocket: this returns a ticket to connect to " +
			"GET /v1/events/ws?ticket=... as the caller, in the request's tenant. It works once, within 30 seconds, " +
			"on the server that issued it. Clients that can set headers connect with Authorization and X-Tenant instead.",
		Tags: []string{"Events"},
	}, withAccess(func(ctx context.Context, a domain.Access, _ *struct{}) (*eventTicketOutput, error) {
		token, ok := ctx.Value(tokenKey{}).(string)
		if !ok {
			return nil, domain.Errorf(domain.EINTERNAL, "ticket issued without authentication")
		}
		id, ok := tickets.Issue(realtime.Client{Token: token, Tenant: a.Tenant, Access: a})
		if !ok {
			return nil, domain.Errorf(domain.EUNAVAILABLE, "Too many tickets are waiting; try again shortly.")
		}
		out := &eventTicketOutput{}
		out.Body.Ticket, out.Body.ExpiresAt = id, time.Now().Add(realtime.TicketTTL).UTC()
		return out, nil
	}))
}

// handleEvents upgrades to the WebSocket of the tenant's events (see
// package realtime): each message is {"id","type","target":{"type","id"},"at"},
// or {"type":"resync"} when missed events cannot be replayed.
func handleEvents(hub *realtime.Hub) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, okA := r.Context().Value(accessKey{}).(domain.Access)
		token, okT := r.Context().Value(tokenKey{}).(string)
		if !okA || !okT {
			writeProblem(w, http.StatusInternalServerError, "An internal error occurred.")
			return
		}
		if hub == nil {
			writeProblem(w, http.StatusServiceUnavailable, "Realtime events are not served here.")
			return
		}
		last := r.URL.Query().Get(LastEventIDParam)
		if last == "" {
			last = r.Header.Get(LastEventIDHeader)
		}
		hub.Serve(w, r, realtime.Client{Token: token, Tenant: a.Tenant, Access: a, LastEventID: last})
	})
}

package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/acme/shop-api/internal/broker"
	"github.com/acme/shop-api/internal/domain"
	"github.com/acme/shop-api/internal/httpapi"
	"github.com/acme/shop-api/internal/logging"
	"github.com/acme/shop-api/internal/postgres"
	"github.com/acme/shop-api/internal/realtime"
	"github.com/acme/shop-api/internal/testsvc"
)

// The realtime events over the live database and broker: two instances
// of the API, each with its own hub, share the broker like two serve
// processes; changes are made on one and seen by the clients of the other.

// idRecorder stands in for the audit log: it gives entries ids.
type idRecorder struct{ n atomic.Int64 }

func (r *idRecorder) RecordAudit(_ context.Context, _ pgx.Tx, e *postgres.AuditEntry) error {
	e.ID, e.At = strconv.FormatInt(r.n.Add(1), 10), time.Now()
	return nil
}

// instance is one serving instance of the API with its hub.
type instance struct {
	hub       *realtime.Hub
	publisher *realtime.Publisher
	handler   http.Handler
	srv       *httptest.Server
}

func newInstance(t *testing.T, b *apiBundle, ps broker.PubSub, opts realtime.Options) *instance {
	t.Helper()
	logger := logging.New(b.logs, slog.LevelDebug, logging.JSON)
	opts.PubSub, opts.Identity, opts.Tenants, opts.Logger = ps, b.identity, b.tenants, logger
	hub, err := realtime.NewHub(t.Context(), opts)
	require.NoError(t, err)
	in := &instance{hub: hub, publisher: realtime.NewPublisher(ps, logger)}
	deps := httpapi.Deps{
		Logger: logger, Version: "test", BaseDomain: baseDomain, Tenants: b.tenants, Identity: b.identity,
		Realtime: httpapi.Realtime{Hub: hub},
	}
	withBilling(t, b.dbURL)(&deps)
	in.handler, err = httpapi.NewHandler(deps)
	require.NoError(t, err)
	in.srv = httptest.NewServer(in.handler)
	t.Cleanup(func() {
		hub.Shutdown()
		in.srv.Close()
	})
	return in
}

// setupEvents serves two instances over one live broker; the bundle's
// calls go to the first, and the tenant units and the control plane
// publish through it.
func setupEvents(t *testing.T, opts realtime.Options) (*apiBundle, *instance, *instance) {
	t.Helper()
	b := setupAPI(t)
	ps := testsvc.OpenPubSub(t)
	one, two := newInstance(t, b, ps, opts), newInstance(t, b, ps, opts)
	b.handler = one.handler
	b.tenants.UseSeams(postgres.Seams{Audit: &idRecorder{}, Events: one.publisher, Access: one.publisher})
	return b, one, two
}

// dial connects to the events of tenant as token ("" for none), with
// the query and Origin given. It returns the handshake's HTTP status (0
// when there was no response).
func (in *instance) dial(t *testing.T, token, tenant, query, origin string) (*websocket.Conn, int, error) {
	t.Helper()
	header := http.Header{}
	if token != "" {
		header.Set("Authorization", "Bearer "+token)
	}
	if tenant != "" {
		header.Set(httpapi.TenantHeader, tenant)
	}
	if origin != "" {
		header.Set("Origin", origin)
	}
	url := "ws" + strings.TrimPrefix(in.srv.URL, "http") + "/v1/events/ws"
	if query != "" {
		url += "?" + query
	}
	// coder/websocket closes the handshake response's body itself (it is
	// nil after a successful handshake).
	ws, res, err := websocket.Dial(t.Context(), url, &websocket.DialOptions{HTTPHeader: header}) //nolint:bodyclose // see above
	if ws != nil {
		t.Cleanup(func() { _ = ws.CloseNow() })
	}
	status := 0
	if res != nil {
		status = res.StatusCode
	}
	return ws, status, err
}

func (in *instance) connect(t *testing.T, token, tenant string) *websocket.Conn {
	t.Helper()
	ws, _, err := in.dial(t, token, tenant, "", "")
	require.NoError(t, err)
	return ws
}

// waitSockets waits until the instance holds n sockets.
func (in *instance) waitSockets(t *testing.T, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return in.hub.Sockets() == n }, 5*time.Second, 5*time.Millisecond)
}

func readEvent(t *testing.T, ws *websocket.Conn) realtime.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, data, err := ws.Read(ctx)
	require.NoError(t, err)
	var m realtime.Message
	require.NoError(t, json.Unmarshal(data, &m))
	return m
}

// closedWith waits up to within for the socket to close and returns how.
func closedWith(t *testing.T, ws *websocket.Conn, within time.Duration) websocket.StatusCode {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), within)
	defer cancel()
	for {
		_, _, err := ws.Read(ctx)
		if err != nil {
			require.NoError(t, ctx.Err(), "not closed within %s", within)
			return websocket.CloseStatus(err)
		}
	}
}

func TestEventsReachOnlyTheClientsThatMaySeeThem(t *testing.T) {
	t.Parallel()
	b, one, two := setupEvents(t, realtime.Options{})
	b.createTenant(t, "acme")
	b.createTenant(t, "globex")
	res := b.call(t, http.MethodPost, "/v1/roles", "", "acme", map[string]any{"name": "watcher", "permissions": []string{"events:read"}})
	require.Equal(t, http.StatusCreated, res.status, string(res.body))
	watcher := b.join(t, b.token, "acme", "watcher@example.com", "watcher")

	owner := two.connect(t, b.token, "acme")
	watching := two.connect(t, watcher, "acme")
	other := one.connect(t, b.token, "globex")
	two.waitSockets(t, 2)
	one.waitSockets(t, 1)

	acme, err := b.tenants.Resolve(t.Context(), "acme")
	require.NoError(t, err)
	err = b.tenants.InTenant(t.Context(), acme, func(ctx context.Context, u *postgres.Unit) error {
		require.NoError(t, u.Audit(ctx, "project.create", "project:00000000-0000-4000-8000-000000000001", nil, nil))
		return errors.New("rolled back")
	})
	require.Error(t, err)

	p1 := b.createNamedProject(t, "acme", "one") // on the first instance
	m := readEvent(t, owner)
	require.Equal(t, "project.create", m.Type, "the rolled-back change sent nothing: this is the first event")
	require.Equal(t, &realtime.Target{Type: "project", ID: p1.ID}, m.Target)
	require.NotEmpty(t, m.ID)

	g := b.createNamedProject(t, "globex", "theirs")
	require.Equal(t, g.ID, readEvent(t, other).Target.ID, "globex's client sees globex's event, and nothing of acme's before it")

	// The watcher holds events:read but not projects:read: it sees an
	// event on a project once a grant on that project exists, checked when
	// the event is delivered.
	watcherID := b.members(t, b.token, "acme")["watcher@example.com"].UserID
	res = b.call(t, http.MethodPost, "/v1/grants", "", "acme", map[string]string{"permission": "projects:read", "object_id": p1.ID, "user_id": watcherID})
	require.Equal(t, http.StatusCreated, res.status, string(res.body))
	p2 := b.createNamedProject(t, "acme", "two")
	require.Equal(t, p2.ID, readEvent(t, owner).Target.ID)
	one.publisher.Publish(t.Context(), postgres.Event{ID: "direct", Tenant: acme, Type: "project.update", TargetType: "project", TargetID: p1.ID, At: time.Now()})
	m = readEvent(t, watching)
	if m.ID != "direct" {
		// Access is checked when an event is delivered: p1's creation may
		// reach the watcher after the grant on p1 exists, when its socket
		// was slower than the owner's (a loaded machine). Never p2's.
		require.Equal(t, p1.ID, m.Target.ID, "p2's creation (no grant) never reaches the watcher")
		m = readEvent(t, watching)
	}
	require.Equal(t, "direct", m.ID, "p2's creation (no grant) never reaches the watcher")
}

// revocationCase is a change that takes a client's access away: the
// client's token, and the change made (through the API or beneath it).
type revocationCase struct {
	token  string
	revoke func() error
}

// revocationCases are every kind of revocation in tenant acme, each of its
// own client, made by via: over HTTP, or through the data layer as a
// command or a job would.
func revocationCases(t *testing.T, b *apiBundle, viaHTTP bool) map[string]revocationCase {
	t.Helper()
	res := b.call(t, http.MethodPost, "/v1/roles", "", "acme", map[string]any{"name": "bare", "permissions": []string{"projects:read"}})
	require.Equal(t, http.StatusCreated, res.status, string(res.body))
	leaver := b.join(t, b.token, "acme", "leaver@example.com", domain.RoleMember)
	demoted := b.join(t, b.token, "acme", "demoted@example.com", domain.RoleMember)
	loggedOut := b.join(t, b.token, "acme", "out@example.com", domain.RoleMember)
	key := b.createAPIKey(t, b.token, "acme", domain.RoleMember)
	res = b.call(t, http.MethodPost, "/v1/roles", "", "acme", map[string]any{"name": "shrinking", "permissions": []string{"events:read", "projects:read"}})
	require.Equal(t, http.StatusCreated, res.status, string(res.body))
	shrunk := b.join(t, b.token, "acme", "shrunk@example.com", "shrinking")
	members := b.members(t, b.token, "acme")
	if viaHTTP {
		ok := func(res response) error {
			if res.status >= 300 {
				return fmt.Errorf("status %d: %s", res.status, res.body)
			}
			return nil
		}
		return map[string]revocationCase{
			"member removed": {leaver, func() error {
				return ok(b.call(t, http.MethodDelete, "/v1/members/"+members["leaver@example.com"].ID, "", "acme", nil))
			}},
			"role lowered": {demoted, func() error {
				return ok(b.call(t, http.MethodPatch, "/v1/members/"+members["demoted@example.com"].ID, "", "acme", map[string]string{"role": "bare"}))
			}},
			"logged out": {loggedOut, func() error {
				return ok(b.callAs(t, loggedOut, http.MethodPost, "/v1/auth/logout", "", "", nil))
			}},
			"API key revoked": {key.Key, func() error {
				return ok(b.call(t, http.MethodDelete, "/v1/api-keys/"+key.ID, "", "acme", nil))
			}},
			"role's permissions changed": {shrunk, func() error {
				return ok(b.call(t, http.MethodPatch, "/v1/roles/shrinking", "", "acme", map[string]any{"permissions": []string{"projects:read"}}))
			}},
		}
	}
	ctx := t.Context()
	tenant, err := b.tenants.Resolve(ctx, "acme")
	require.NoError(t, err)
	owner, err := b.identity.Authenticate(ctx, b.token)
	require.NoError(t, err)
	access, err := b.identity.Access(ctx, owner, tenant)
	require.NoError(t, err)
	return map[string]revocationCase{
		"member removed": {leaver, func() error {
			return b.identity.RemoveMember(ctx, access, members["leaver@example.com"].ID)
		}},
		"role lowered": {demoted, func() error {
			_, err := b.identity.ChangeRole(ctx, access, members["demoted@example.com"].ID, "bare")
			return err
		}},
		"logged out": {loggedOut, func() error { return b.identity.Logout(ctx, loggedOut) }},
		"API key revoked": {key.Key, func() error {
			return b.identity.RevokeAPIKey(ctx, tenant, key.ID)
		}},
		"role's permissions changed": {shrunk, func() error {
			_, err := b.identity.UpdateRole(ctx, access, "shrinking", []string{"projects:read"})
			return err
		}},
	}
}

// Each revocation, over HTTP on one instance or beneath it (as a command
// or a job would make it), closes the socket on the other instance within
// the bound, announced by the control plane once the change committed;
// the owner's socket stays. The periodic re-check is far off (its default):
// only the announcement can close them in time.
func TestRevocationClosesSocketsOnEveryInstance(t *testing.T) {
	t.Parallel()
	for via, viaHTTP := range map[string]bool{"over HTTP": true, "beneath it": false} {
		t.Run(via, func(t *testing.T) {
			t.Parallel()
			b, _, two := setupEvents(t, realtime.Options{})
			b.createTenant(t, "acme")
			cases := revocationCases(t, b, viaHTTP)
			stays := two.connect(t, b.token, "acme")
			for name, tc := range cases {
				ws := two.connect(t, tc.token, "acme")
				two.waitSockets(t, 2)
				require.NoError(t, tc.revoke(), name)
				start := time.Now()
				require.Equal(t, websocket.StatusPolicyViolation, closedWith(t, ws, realtime.RevocationBound), name)
				require.Less(t, time.Since(start), realtime.RevocationBound, name)
				two.waitSockets(t, 1)
			}
			// The suspension last: it closes the owner's socket too.
			_, err := b.tenants.Suspend(t.Context(), "acme")
			require.NoError(t, err)
			start := time.Now()
			require.Equal(t, websocket.StatusPolicyViolation, closedWith(t, stays, realtime.RevocationBound), "tenant suspended")
			require.Less(t, time.Since(start), realtime.RevocationBound, "tenant suspended")
		})
	}
}

// Deleting a tenant closes its sockets on every instance within the bound,
// its owner's included.
func TestDeletingATenantClosesItsSockets(t *testing.T) {
	t.Parallel()
	b, _, two := setupEvents(t, realtime.Options{})
	b.createTenant(t, "acme")
	ws := two.connect(t, b.token, "acme")
	two.waitSockets(t, 1)
	res := b.callAs(t, b.token, http.MethodDelete, "/v1/tenants/acme", "", "", map[string]string{"confirm": "acme"})
	require.Equal(t, http.StatusNoContent, res.status, string(res.body))
	start := time.Now()
	require.Equal(t, websocket.StatusPolicyViolation, closedWith(t, ws, realtime.RevocationBound))
	require.Less(t, time.Since(start), realtime.RevocationBound)
}

// A revocation announced to no one (a lost message) still closes the
// socket, at the periodic re-check.
func TestASuspendedTenantsSocketsCloseOnTheRecheck(t *testing.T) {
	t.Parallel()
	b, one, two := setupEvents(t, realtime.Options{RecheckInterval: time.Second})
	b.tenants.UseSeams(postgres.Seams{Audit: &idRecorder{}, Events: one.publisher})
	b.createTenant(t, "acme")
	ws := two.connect(t, b.token, "acme")
	two.waitSockets(t, 1)
	_, err := b.tenants.Suspend(t.Context(), "acme")
	require.NoError(t, err)
	require.Equal(t, websocket.StatusPolicyViolation, closedWith(t, ws, 3*time.Second))
}

func TestBrowsersConnectWithATicketFromAnAllowedOrigin(t *testing.T) {
	t.Parallel()
	b, one, _ := setupEvents(t, realtime.Options{AllowedOrigins: []string{"app.example.com"}})
	b.createTenant(t, "acme")
	ticket := func() string {
		res := b.call(t, http.MethodPost, "/v1/events/ticket", "", "acme", nil)
		require.Equal(t, http.StatusCreated, res.status, string(res.body))
		var out struct {
			Ticket string `json:"ticket"`
		}
		require.NoError(t, json.Unmarshal(res.body, &out))
		return out.Ticket
	}

	first := ticket()
	ws, _, err := one.dial(t, "", "", "ticket="+first, "https://app.example.com")
	require.NoError(t, err, "a ticket stands for the caller's credentials and tenant")
	one.waitSockets(t, 1)
	p := b.createNamedProject(t, "acme", "seen")
	require.Equal(t, p.ID, readEvent(t, ws).Target.ID)

	_, status, err := one.dial(t, "", "", "ticket="+first, "https://app.example.com")
	require.Error(t, err)
	require.Equal(t, http.StatusUnauthorized, status, "a ticket works once")
	_, status, err = one.dial(t, "", "", "ticket=wt_NOSUCHTICKET", "")
	require.Error(t, err)
	require.Equal(t, http.StatusUnauthorized, status)

	_, status, err = one.dial(t, "", "", "ticket="+ticket(), "https://evil.example.net")
	require.Error(t, err)
	require.Equal(t, http.StatusForbidden, status, "a page of another origin may not connect")
	_, status, err = one.dial(t, b.token, "acme", "", "https://evil.example.net")
	require.Error(t, err)
	require.Equal(t, http.StatusForbidden, status, "nor with headers")

	_, status, err = one.dial(t, "", "acme", "", "")
	require.Error(t, err)
	require.Equal(t, http.StatusUnauthorized, status, "no credentials, no socket")
}

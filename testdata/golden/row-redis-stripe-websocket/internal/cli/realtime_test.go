package cli_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"

	"github.com/acme/shop-api/internal/realtime"
)

// The serve command's realtime wiring, end to end: a tenant suspended with
// the CLI has its sockets closed (policy violation) within the bound, and
// shutting the server down closes the others with "going away".
func TestServeClosesEventSocketsOnSuspensionAndShutdown(t *testing.T) {
	t.Parallel()
	env := liveEnv(t)
	_, _, err := run(t, env, "migrate")
	require.NoError(t, err)
	srv := start(t, env, "serve")
	base := "http://" + srv.addr

	status, body := send(t, http.MethodPost, base+"/v1/auth/signup", "", "", `{"email":"ada@example.com","password":"correct horse battery staple","name":"Ada"}`)
	require.Equal(t, http.StatusCreated, status, string(body))
	status, body = send(t, http.MethodPost, base+"/v1/auth/login", "", "", `{"email":"ada@example.com","password":"correct horse battery staple"}`)
	require.Equal(t, http.StatusOK, status, string(body))
	var login struct {
		Token string `json:"token"`
	}
	require.NoError(t, json.Unmarshal(body, &login))
	dial := func(tenant string) *websocket.Conn {
		t.Helper()
		created, answer := send(t, http.MethodPost, base+"/v1/tenants", login.Token, "", `{"slug":"`+tenant+`","name":"`+tenant+`"}`)
		require.Equal(t, http.StatusCreated, created, string(answer))
		header := http.Header{"Authorization": {"Bearer " + login.Token}, "X-Tenant": {tenant}}
		// coder/websocket closes the handshake response's body itself.
		ws, _, dialErr := websocket.Dial(t.Context(), "ws://"+srv.addr+"/v1/events/ws", &websocket.DialOptions{HTTPHeader: header}) //nolint:bodyclose // see above
		require.NoError(t, dialErr)
		t.Cleanup(func() { _ = ws.CloseNow() })
		return ws
	}
	closed := func(ws *websocket.Conn, within time.Duration) websocket.StatusCode {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), within)
		defer cancel()
		_, _, readErr := ws.Read(ctx)
		require.Error(t, readErr)
		require.NoError(t, ctx.Err(), "not closed within %s", within)
		return websocket.CloseStatus(readErr)
	}
	acme, globex := dial("acme"), dial("globex")
	time.Sleep(100 * time.Millisecond) // past the upgrade: the sockets are the hub's

	_, stderr, err := run(t, env, "tenant", "suspend", "--slug", "acme")
	require.NoError(t, err)
	require.NotContains(t, stderr, "warning")
	require.Equal(t, websocket.StatusPolicyViolation, closed(acme, realtime.RevocationBound), "the suspended tenant's socket")

	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.cancel()
	}()
	require.Equal(t, websocket.StatusGoingAway, closed(globex, 10*time.Second), "shutdown")
	<-done
	srv.stop(t)
}

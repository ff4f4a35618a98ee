package cli

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// slowHandler answers once release is closed, telling started when a request
// has arrived.
type slowHandler struct {
	started chan struct{}
	release chan struct{}
}

func (h slowHandler) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	h.started <- struct{}{}
	<-h.release
	_, _ = io.WriteString(w, "finished")
}

// startServer serves h with serveUntilDone and returns its address, a
// cancel that starts the shutdown, and the channel serveUntilDone's result
// arrives on.
func startServer(t *testing.T, h http.Handler, timeout time.Duration) (addr string, shutdown context.CancelFunc, done <-chan error) {
	t.Helper()
	ln, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	errc := make(chan error, 1)
	logger := slog.New(slog.DiscardHandler)
	go func() { errc <- serveUntilDone(ctx, newHTTPServer(h, logger), ln, timeout, logger) }()
	return ln.Addr().String(), cancel, errc
}

func TestShutdownLetsInFlightRequestsFinish(t *testing.T) {
	t.Parallel()
	h := slowHandler{started: make(chan struct{}, 1), release: make(chan struct{})}
	addr, shutdown, done := startServer(t, h, 10*time.Second)

	type answer struct {
		status int
		body   string
		err    error
	}
	answered := make(chan answer, 1)
	go func() {
		req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://"+addr+"/", http.NoBody)
		if err != nil {
			answered <- answer{err: err}
			return
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			answered <- answer{err: err}
			return
		}
		defer func() { _ = res.Body.Close() }()
		body, err := io.ReadAll(res.Body)
		answered <- answer{status: res.StatusCode, body: string(body), err: err}
	}()
	<-h.started

	shutdown()
	// The listener closes at once: no new connection is accepted while the
	// request in flight is still running.
	require.Eventually(t, func() bool {
		conn, err := (&net.Dialer{Timeout: 100 * time.Millisecond}).DialContext(t.Context(), "tcp", addr)
		if err != nil {
			return true
		}
		_ = conn.Close()
		return false
	}, 5*time.Second, 20*time.Millisecond, "listener still accepting after shutdown began")
	select {
	case err := <-done:
		t.Fatalf("server stopped before its request finished: %v", err)
	case <-time.After(100 * time.Millisecond):
	}

	close(h.release)
	a := <-answered
	require.NoError(t, a.err)
	require.Equal(t, http.StatusOK, a.status)
	require.Equal(t, "finished", a.body)
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("server did not stop after its last request finished")
	}
}

func TestShutdownGivesUpAfterItsTimeout(t *testing.T) {
	t.Parallel()
	h := slowHandler{started: make(chan struct{}, 1), release: make(chan struct{})}
	t.Cleanup(func() { close(h.release) })
	addr, shutdown, done := startServer(t, h, 200*time.Millisecond)

	clientErr := make(chan error, 1)
	go func() {
		req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://"+addr+"/", http.NoBody)
		if err != nil {
			clientErr <- err
			return
		}
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			_ = res.Body.Close()
		}
		clientErr <- err
	}()
	<-h.started
	began := time.Now()
	shutdown()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.ErrorContains(t, err, "graceful shutdown")
		require.GreaterOrEqual(t, time.Since(began), 200*time.Millisecond, "waited for the request up to the timeout")
	case <-time.After(5 * time.Second):
		t.Fatal("shutdown did not give up after its timeout")
	}
	// Past the timeout the server closed the request's connection (its
	// handler is still blocked): the client gets no answer.
	select {
	case err := <-clientErr:
		require.Error(t, err, "the connection of the request still running was closed")
	case <-time.After(5 * time.Second):
		t.Fatal("the connection of the request still running was left open")
	}
}

func TestHTTPServerTimeoutsAreSet(t *testing.T) {
	t.Parallel()
	srv := newHTTPServer(http.NotFoundHandler(), slog.New(slog.DiscardHandler))
	for name, d := range map[string]time.Duration{
		"ReadHeaderTimeout": srv.ReadHeaderTimeout,
		"ReadTimeout":       srv.ReadTimeout,
		"WriteTimeout":      srv.WriteTimeout,
		"IdleTimeout":       srv.IdleTimeout,
	} {
		require.Positive(t, d, "%s unset: a slow client could hold a connection forever", name)
	}
	require.LessOrEqual(t, srv.ReadHeaderTimeout, srv.ReadTimeout)
	require.Positive(t, srv.MaxHeaderBytes)
}

func TestServerDropsClientsThatNeverFinishTheirHeaders(t *testing.T) {
	t.Parallel()
	addr, _, _ := startServer(t, http.NotFoundHandler(), time.Second)
	conn, err := (&net.Dialer{Timeout: time.Second}).DialContext(t.Context(), "tcp", addr)
	require.NoError(t, err)
	defer func() { _ = conn.Close() }()
	_, err = io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n") // headers never end
	require.NoError(t, err)

	// The server closes the connection after ReadHeaderTimeout.
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(newHTTPServer(nil, slog.New(slog.DiscardHandler)).ReadHeaderTimeout+5*time.Second)))
	_, err = io.ReadAll(conn)
	require.NoError(t, err, "connection closed by the server, not by our read deadline")
}

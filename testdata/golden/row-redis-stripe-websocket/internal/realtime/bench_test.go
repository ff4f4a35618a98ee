package realtime

import (
	"bufio"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/acme/shop-api/internal/postgres"
	"github.com/acme/shop-api/internal/testsvc"
)

// benchSockets is how many idle sockets BenchmarkIdleSockets holds
// (REALTIME_BENCH_SOCKETS; default 4000: each costs two file descriptors
// in this one process, client and server).
func benchSockets() int {
	n, err := strconv.Atoi(os.Getenv("REALTIME_BENCH_SOCKETS"))
	if err != nil || n <= 0 {
		return 4000
	}
	return n
}

// dialRaw opens an idle WebSocket with a bare handshake: the client side
// costs a file descriptor and no goroutine, so the memory measured is
// the server's.
func dialRaw(b *testing.B, addr, query string) net.Conn {
	b.Helper()
	conn, err := (&net.Dialer{}).DialContext(b.Context(), "tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	req := "GET /?" + query + " HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err = conn.Write([]byte(req)); err != nil {
		b.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		b.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusSwitchingProtocols {
		b.Fatalf("handshake: %s", res.Status)
	}
	return conn
}

// heapAndStacks is the memory the process holds for its objects and for
// its goroutines' stacks, after a collection.
func heapAndStacks() (heap, stacks uint64) {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse, m.StackInuse
}

// BenchmarkIdleSockets reports the memory one idle authenticated socket
// costs the server (its hub entry, goroutines, buffers and timers).
func BenchmarkIdleSockets(b *testing.B) {
	n := benchSockets()
	for b.Loop() {
		b.StopTimer()
		h := newHubOn(b, &memPubSub{}, Options{MaxPerUser: n, MaxPerTenant: n})
		addr := strings.TrimPrefix(h.srv.URL, "http://")
		heap0, stacks0 := heapAndStacks()
		conns := make([]net.Conn, 0, n)
		b.StartTimer()
		for i := range n {
			conns = append(conns, dialRaw(b, addr, "tenant=acme&as=u"+strconv.Itoa(i%100)))
		}
		for h.Sockets() < n {
			time.Sleep(time.Millisecond)
		}
		b.StopTimer()
		heap, stacks := heapAndStacks()
		heapPer, stacksPer := float64(heap-heap0)/float64(n), float64(stacks-stacks0)/float64(n)
		perSocket := heapPer + stacksPer
		b.ReportMetric(heapPer, "heap-bytes/socket")
		b.ReportMetric(stacksPer, "stack-bytes/socket")
		b.ReportMetric(perSocket*10_000/(1<<20), "MiB/10k-sockets")
		for _, c := range conns {
			_ = c.Close()
		}
		h.close()
		b.StartTimer()
	}
}

// BenchmarkFanOut publishes one event on the live broker to 1,000 clients
// of two hubs (two instances, 500 each) and reports the latency from
// publication to each client's reading it: p50 and p99 over every
// delivery of the run after the first (reported apart). The clients run
// in the same process and share its two cores with the servers.
func BenchmarkFanOut(b *testing.B) {
	const perHub = 500
	ps := testsvc.OpenPubSub(b)
	clients := make([]*websocket.Conn, 0, 2*perHub)
	hubs := make([]*testHub, 0, 2)
	for range 2 {
		h := newHubOn(b, ps, Options{MaxPerUser: perHub, MaxPerTenant: perHub})
		hubs = append(hubs, h)
		for i := range perHub {
			// coder/websocket closes the handshake response's body itself.
			ws, _, err := websocket.Dial(b.Context(), "ws"+strings.TrimPrefix(h.srv.URL, "http")+"/?tenant=acme&as=u"+strconv.Itoa(i), nil) //nolint:bodyclose // see above
			if err != nil {
				b.Fatal(err)
			}
			clients = append(clients, ws)
		}
	}
	for _, h := range hubs {
		for h.Sockets() < perHub {
			time.Sleep(time.Millisecond)
		}
	}
	publisher := NewPublisher(ps, hubs[0].opts.Logger)

	// Every client reads all along, as a real one does, and reports each
	// event's latency from the publication time its id carries; starting a
	// reader per event would count the reader's start-up too.
	received := make(chan time.Duration, len(clients))
	for _, ws := range clients {
		go func() {
			for {
				_, data, err := ws.Read(b.Context())
				at := time.Now()
				if err != nil {
					return // closed at the end
				}
				var m Message
				if jsonErr := json.Unmarshal(data, &m); jsonErr != nil {
					b.Errorf("event: %v", jsonErr)
					return
				}
				sent, err := strconv.ParseInt(m.ID, 10, 64)
				if err != nil {
					b.Errorf("event id %q: %v", m.ID, err)
					return
				}
				received <- at.Sub(time.Unix(0, sent))
			}
		}()
	}
	// publish sends one event and waits for every client to read it.
	publish := func() []time.Duration {
		sent := time.Now()
		publisher.Publish(b.Context(), postgres.Event{ID: strconv.FormatInt(sent.UnixNano(), 10), Tenant: testTenant("acme"), Type: "project.update", TargetType: "project", TargetID: "p", At: sent})
		got := make([]time.Duration, 0, len(clients))
		deadline := time.After(10 * time.Second)
		for range clients {
			select {
			case d := <-received:
				got = append(got, d)
			case <-deadline:
				b.Fatalf("%d of %d clients got the event within 10 s", len(got), len(clients))
			}
		}
		return got
	}
	// The first event opens the publisher's connection and the brokers'
	// first deliveries (55–100 ms before any client reads it, measured);
	// it is reported apart, not in the percentiles.
	first := publish()
	latencies := make([]time.Duration, 0, len(clients)*b.N)
	for b.Loop() {
		latencies = append(latencies, publish()...)
	}
	b.StopTimer()
	b.ReportMetric(float64(slices.Max(first).Microseconds())/1000, "first-event-max-ms")
	slices.Sort(latencies)
	if len(latencies) > 0 {
		b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds())/1000, "p99-ms")
	}
	for _, ws := range clients {
		_ = ws.CloseNow()
	}
}

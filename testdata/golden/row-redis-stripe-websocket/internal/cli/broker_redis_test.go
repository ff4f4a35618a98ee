package cli_test

import (
	"bufio"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/acme/shop-api/internal/testsvc"
)

// brokerChecks are the broker's readiness checks besides the database's.
var brokerChecks = map[string]string{"redis": "ok"}

// requireQueueMigrated checks what `migrate up` said about the job queue:
// nothing, the broker keeps it outside the database.
func requireQueueMigrated(t *testing.T, stdout string, _ bool) {
	t.Helper()
	require.NotContains(t, stdout, "job queue")
}

// watchBroker records every command Redis receives (MONITOR) that names
// the jobs namespace, and returns a function listing them so far. MONITOR
// replies are plain lines, read here on a connection of its own: go-redis's
// MonitorCmd polls its reader in a loop, which would keep a core busy for
// the whole test.
func watchBroker(t *testing.T, namespace string) func() []string {
	t.Helper()
	opts, err := redis.ParseURL(testsvc.RedisURL(t))
	require.NoError(t, err)
	conn, err := (&net.Dialer{}).DialContext(t.Context(), "tcp", opts.Addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	r := bufio.NewReader(conn)
	command := func(args ...string) {
		var b strings.Builder
		fmt.Fprintf(&b, "*%d\r\n", len(args))
		for _, a := range args {
			fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
		}
		_, err := conn.Write([]byte(b.String()))
		require.NoError(t, err)
		reply, err := r.ReadString('\n')
		require.NoError(t, err)
		require.Equal(t, "+OK\r\n", reply)
	}
	switch {
	case opts.Username != "":
		command("AUTH", opts.Username, opts.Password)
	case opts.Password != "":
		command("AUTH", opts.Password)
	}
	command("MONITOR")
	var mu sync.Mutex
	var lines []string
	go func() {
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return // the connection closed at the end of the test
			}
			if strings.Contains(line, namespace) {
				mu.Lock()
				lines = append(lines, line)
				mu.Unlock()
			}
		}
	}()
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(lines)
	}
}

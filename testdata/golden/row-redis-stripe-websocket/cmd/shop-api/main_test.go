package main

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/acme/shop-api/internal/testsvc"
)

// asMain is set in the environment of the test binary re-run as the app.
const asMain = "APP_TEST_RUN_MAIN"

// TestMain lets TestSIGTERMStopsServeGracefully run this binary as the app
// itself, so that the signal wiring in main is what gets tested.
func TestMain(m *testing.M) {
	if args := os.Getenv(asMain); args != "" {
		os.Args = append([]string{"shop-api"}, strings.Fields(args)...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

var listening = regexp.MustCompile(`"msg":"http server listening".*?"addr":"([^"]+)"`)

func TestSIGTERMStopsServeGracefully(t *testing.T) {
	env := testsvc.AppEnv(t)
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$") //nolint:gosec // this test binary, re-run as the app
	cmd.Env = append(os.Environ(), asMain+"=serve")
	for name, value := range env {
		cmd.Env = append(cmd.Env, name+"="+value)
	}
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())

	lines := make(chan string)
	go func() {
		defer close(lines)
		scanner := bufio.NewScanner(stderr)
		for scanner.Scan() {
			lines <- scanner.Text()
		}
	}()
	var logs strings.Builder
	next := func() (string, bool) {
		select {
		case line, ok := <-lines:
			logs.WriteString(line + "\n")
			return line, ok
		case <-time.After(15 * time.Second):
			t.Fatalf("no log line within 15s:\n%s", logs.String())
			return "", false
		}
	}

	var addr string
	for addr == "" {
		line, ok := next()
		require.True(t, ok, "serve exited before listening:\n%s", logs.String())
		if m := listening.FindStringSubmatch(line); m != nil {
			addr = m[1]
		}
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+addr+"/healthz", http.NoBody)
	require.NoError(t, err)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, res.Body)
	require.NoError(t, res.Body.Close())
	require.Equal(t, http.StatusOK, res.StatusCode)

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	for {
		if _, ok := next(); !ok {
			break
		}
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		require.NoError(t, err, "serve exits 0 on SIGTERM:\n%s", logs.String())
	case <-time.After(10 * time.Second):
		t.Fatalf("serve did not exit within 10s of SIGTERM:\n%s", logs.String())
	}
	require.Contains(t, logs.String(), `"msg":"shutting down"`)
	require.Contains(t, logs.String(), `"msg":"server stopped"`)
}

// The program reads .env from its working directory for settings the
// environment leaves unset.
func TestMainReadsDotenv(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".env"), []byte("# local settings\nSECRET_KEY='too short'\n"), 0o600))
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$") //nolint:gosec // this test binary, re-run as the app
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), asMain+"=serve")
	out, err := cmd.CombinedOutput()
	require.Error(t, err, "serve refuses the configuration:\n%s", out)
	require.Contains(t, string(out), "SECRET_KEY", "the value came from .env")

	require.NoError(t, os.WriteFile(filepath.Join(dir, ".env"), []byte("SECRET_KEY='unterminated\n"), 0o600))
	cmd = exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$") //nolint:gosec // this test binary, re-run as the app
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), asMain+"=help")
	out, err = cmd.CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "read .env", "a broken .env is named, before any command runs")
}

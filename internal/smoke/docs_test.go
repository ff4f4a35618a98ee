package smoke

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/saaskit/saaskit/generator"
	"github.com/saaskit/saaskit/internal/kit"
	"github.com/saaskit/saaskit/internal/testenv"
)

// docsServer serves a generated app's HTTP handler on a free local port
// and prints its address. It is written into the generated repository by
// the test only: the page under test needs the handler, not the services
// behind it.
const docsServer = `package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"

	"MODULE/internal/httpapi"
)

func main() {
	h, err := httpapi.NewHandler(httpapi.Deps{Logger: slog.New(slog.DiscardHandler), Version: "docs-test"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(l.Addr().String())
	fmt.Fprintln(os.Stderr, http.Serve(l, h))
}
`

// TestDocsPageRendersOffline opens a generated app's /docs in headless
// Chromium, with nothing but the app to reach, and checks that the viewer
// rendered the API's operations.
func TestDocsPageRendersOffline(t *testing.T) {
	testenv.Slow(t, "the docs test builds a generated repository and runs Chromium")
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		testenv.Absent(t, "chromium is not installed (apt-get install chromium)")
	}

	tc := cases(t)[0]
	plan, err := kit.Renderer{}.Render(t.Context(), tc.Record)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), tc.Answers["name"])
	if err := generator.Write(plan, dir, generator.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	module := strings.ReplaceAll(docsServer, "MODULE", tc.Answers["module"])
	if err := os.MkdirAll(filepath.Join(dir, "cmd", "docsserver"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cmd", "docsserver", "main.go"), []byte(module), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "docsserver")
	run(t, dir, nil, "go", "build", "-o", bin, "./cmd/docsserver")

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	server := exec.CommandContext(ctx, bin)
	out, err := server.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	server.Stderr = os.Stderr
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = server.Process.Kill(); _ = server.Wait() }()
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("the server printed no address: %v", err)
	}
	url := "http://" + strings.TrimSpace(addr) + "/docs"

	// The screenshot and the DOM stay in the test's temporary directory,
	// or in SAASKIT_ARTIFACTS when it names one (CI keeps it).
	artifacts := t.TempDir()
	if dir := os.Getenv("SAASKIT_ARTIFACTS"); dir != "" {
		artifacts = dir
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	browse := func(args ...string) []byte {
		t.Helper()
		args = append([]string{
			"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync",
			"--user-data-dir=" + t.TempDir(), "--virtual-time-budget=20000",
		}, append(args, url)...)
		cmd := exec.CommandContext(ctx, chromium, args...)
		cmd.Dir = artifacts
		var stderr strings.Builder
		cmd.Stderr = &stderr
		dom, err := cmd.Output()
		if err != nil {
			t.Fatalf("chromium %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return dom
	}

	shot := filepath.Join(artifacts, "docs.png")
	browse("--window-size=1280,2400", "--screenshot="+shot)
	if fi, err := os.Stat(shot); err != nil || fi.Size() == 0 {
		t.Fatalf("no screenshot at %s: %v", shot, errors.Join(err, errors.New("empty")))
	}
	t.Logf("screenshot of %s: %s", url, shot)

	dom := string(browse("--dump-dom"))
	if err := os.WriteFile(filepath.Join(artifacts, "docs.html"), []byte(dom), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("rendered DOM: %s", filepath.Join(artifacts, "docs.html"))
	// The viewer lists every operation with its path and summary.
	for _, want := range []string{
		"/v1/auth/signup",
		"Create an account (the same answer whether or not the email has one)",
		"/v1/projects",
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("the rendered /docs does not show %q", want)
		}
	}
}

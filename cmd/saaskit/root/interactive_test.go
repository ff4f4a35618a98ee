package root

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/saaskit/saaskit/internal/cmdutil"
	"github.com/saaskit/saaskit/internal/kit"
	"github.com/saaskit/saaskit/internal/prompt"
)

// lockedBuffer collects what the program draws on the terminal.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

var ansi = regexp.MustCompile(`\x1b(\[[0-9;?<=>]*[ -/]*[@-~]|\][^\x07]*\x07|[()][A-Z0-9])`)

func (b *lockedBuffer) text() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return ansi.ReplaceAllString(b.buf.String(), "")
}

// On a terminal, `saaskit new` asks in one huh form; answering it with
// keys (type a name, accept a default, move down a choice) writes the repo
// those answers describe.
func TestNewAsksInATerminalForm(t *testing.T) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal available: %v", err)
	}
	defer ptmx.Close()
	defer tty.Close()
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 50, Cols: 160}); err != nil {
		t.Fatal(err)
	}
	screen := &lockedBuffer{}
	go func() { _, _ = io.Copy(screen, ptmx) }()

	dir := filepath.Join(t.TempDir(), "shopfront")
	ios := &cmdutil.IOStreams{In: tty, Out: &bytes.Buffer{}, ErrOut: tty}
	ios.SetTTY(true, false)
	f := &cmdutil.Factory{
		IOStreams:  ios,
		KitVersion: "v1.0.0",
		Getenv:     func(string) string { return "" },
		Prompter:   func(accessible bool) cmdutil.Prompter { return prompt.New(ios, accessible) },
		Git:        func(context.Context, string, ...string) error { return nil },
		// What the form wrote is in the record; sqlc's code is not needed,
		// so this test binary need not play sqlc's child.
		Renderer: kit.Renderer{CoreOnly: true},
	}
	done := make(chan int, 1)
	go func() { done <- Execute(NewCmdRoot(f), f, []string{"new", dir, "--no-git", "--broker", "nats"}) }()

	waitFor := func(s string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for !strings.Contains(screen.text(), s) {
			if time.Now().After(deadline) {
				t.Fatalf("the terminal never showed %q; it shows:\n%s", s, screen.text())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	press := func(keys string) {
		t.Helper()
		if _, err := ptmx.WriteString(keys); err != nil {
			t.Fatal(err)
		}
		time.Sleep(150 * time.Millisecond)
	}
	const down, enter = "\x1b[B", "\r"

	waitFor("App name")
	waitFor("shopfront") // the directory's name is the default
	press("shop")
	press(enter)
	waitFor("Go module path")
	waitFor("example.com/shop") // the default follows the name typed
	press(enter)
	waitFor("Tenant isolation")
	waitFor("Shared tables with row-level security")
	press(down)
	press(enter)
	waitFor("Billing")
	press(enter)
	waitFor("Realtime notifications")
	press(down)
	press(enter)
	// The last page sums the answers up (the terminal redraws only what
	// changed, so only new text is certain to show); Generate is the
	// default.
	waitFor("Realtime notifications: none")
	waitFor("given: --broker nats")
	waitFor("Generate with these options?")
	press(enter)

	select {
	case code := <-done:
		if code != ExitOK {
			t.Fatalf("exit %d; terminal:\n%s", code, screen.text())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("saaskit new did not finish; terminal:\n%s", screen.text())
	}
	rec, err := os.ReadFile(filepath.Join(dir, ".saaskit.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"name: shop\n", "module: example.com/shop\n", "tenancy: row\n", "broker: nats\n", "billing: stripe\n", "realtime: none\n"} {
		if !strings.Contains(string(rec), want) {
			t.Errorf(".saaskit.yaml lacks %q:\n%s", want, rec)
		}
	}
}

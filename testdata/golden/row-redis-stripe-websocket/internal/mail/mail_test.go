package mail_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime/quotedprintable"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/acme/shop-api/internal/domain"
	"github.com/acme/shop-api/internal/jobs"
	"github.com/acme/shop-api/internal/mail"
	"github.com/acme/shop-api/internal/postgres"
	"github.com/acme/shop-api/internal/testsvc"
)

const testSecret = "test-secret-key-0123456789abcdef-0123"

func testSealer(t *testing.T) *mail.Sealer {
	t.Helper()
	s, err := mail.NewSealer(testSecret)
	require.NoError(t, err)
	return s
}

func seal(t *testing.T, m mail.Message) mail.Sealed {
	t.Helper()
	box, err := testSealer(t).Seal(m)
	require.NoError(t, err)
	return box
}

func TestHandleSendsTheMessage(t *testing.T) {
	t.Parallel()
	srv := testsvc.NewSMTPServer(t)
	s, err := mail.NewSender(srv.URL(), "Acme <no-reply@acme.test>", testSealer(t))
	require.NoError(t, err)

	msg := mail.Message{To: "Ada <ada@example.com>", Subject: "Grüße from Acme", Text: "Hello Ada,\nyour invoice is ready = 42 €.\n"}
	err = s.Handle(t.Context(), nil, &jobs.Delivery[mail.Sealed]{Key: "key-1", Attempt: 1, MaxAttempts: 1, Args: seal(t, msg)})
	require.NoError(t, err)

	got := srv.Mail()
	require.Len(t, got, 1)
	require.Equal(t, "no-reply@acme.test", got[0].From)
	require.Equal(t, []string{"ada@example.com"}, got[0].To)
	header, body, ok := strings.Cut(got[0].Data, "\r\n\r\n")
	require.True(t, ok, "headers and body are separated by a blank line")
	require.Contains(t, header, `From: "Acme" <no-reply@acme.test>`)
	require.Contains(t, header, `To: "Ada" <ada@example.com>`)
	require.Contains(t, header, "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe_from_Acme?=")
	require.Regexp(t, `Message-ID: <[0-9a-f]{32}@acme\.test>\r\n`, header, "the job key makes resends recognisable")
	require.Contains(t, header, "Content-Transfer-Encoding: quoted-printable")
	decoded, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(body)))
	require.NoError(t, err)
	require.Equal(t, "Hello Ada,\r\nyour invoice is ready = 42 €.\r\n", string(decoded))

	// The Message-ID depends on the tenant and key only, and is valid
	// whatever the key holds.
	box := seal(t, msg)
	for _, d := range []*jobs.Delivery[mail.Sealed]{
		{Key: "key-1", Args: box},
		{Key: "key-2", Args: box},
		{Key: "key-1", Tenant: jobs.Tenant{ID: "7d1c6e0e-3f5f-4c1e-9a57-0f0c2d2b1a11", Slug: "acme"}, Args: box},
		{Key: "signup-notice:ada@example.com:2026-01-02T03", Args: box},
	} {
		require.NoError(t, s.Handle(t.Context(), nil, d))
	}
	ids := make([]string, 0, 5)
	for _, m := range srv.Mail() {
		ids = append(ids, messageID.FindStringSubmatch(m.Data)[1])
	}
	require.Len(t, ids, 5)
	require.Equal(t, ids[0], ids[1], "a resend has the same Message-ID")
	require.NotEqual(t, ids[0], ids[2], "another key, another Message-ID")
	require.NotEqual(t, ids[0], ids[3], "another tenant, another Message-ID")
	require.NotEqual(t, ids[0], ids[4])
}

// A mail job retried after the server accepted its message (its
// transaction did not commit) finds the send recorded outside that
// transaction and does not send again; another job's message is sent.
func TestRetriedJobDoesNotSendAgain(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool, err := postgres.Open(ctx, testsvc.NewDatabase(t), "test")
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	m, err := postgres.NewMigrator(pool)
	require.NoError(t, err)
	_, err = m.Up(ctx)
	require.NoError(t, errors.Join(err, m.Close()))

	srv := testsvc.NewSMTPServer(t)
	s, err := mail.NewSender(srv.URL(), "Acme <no-reply@acme.test>", testSealer(t))
	require.NoError(t, err)
	s.LogSent(pool)
	msg := seal(t, mail.Message{To: "ada@example.com", Subject: "Welcome", Text: "Hello"})
	tenant := jobs.Tenant{ID: "7d1c6e0e-3f5f-4c1e-9a57-0f0c2d2b1a11", Slug: "acme"}
	for attempt := 1; attempt <= 3; attempt++ {
		require.NoError(t, s.Handle(ctx, nil, &jobs.Delivery[mail.Sealed]{Key: "welcome", Tenant: tenant, Attempt: attempt, MaxAttempts: 5, Args: msg}))
	}
	require.Len(t, srv.Mail(), 1, "the retries found the message sent")
	require.NoError(t, s.Handle(ctx, nil, &jobs.Delivery[mail.Sealed]{Key: "welcome", Attempt: 1, MaxAttempts: 5, Args: msg}))
	require.NoError(t, s.Handle(ctx, nil, &jobs.Delivery[mail.Sealed]{Key: "reminder", Tenant: tenant, Attempt: 1, MaxAttempts: 5, Args: msg}))
	require.Len(t, srv.Mail(), 3, "another tenant's or key's message is its own")

	// A send that failed is not recorded: its retry sends.
	down, err := mail.NewSender("smtp://"+testsvc.ClosedAddr(t), "Acme <no-reply@acme.test>", testSealer(t))
	require.NoError(t, err)
	err = down.LogSent(pool).Handle(ctx, nil, &jobs.Delivery[mail.Sealed]{Key: "invoice", Tenant: tenant, Attempt: 1, MaxAttempts: 5, Args: msg})
	require.ErrorContains(t, err, "mail: connect")
	require.NoError(t, s.Handle(ctx, nil, &jobs.Delivery[mail.Sealed]{Key: "invoice", Tenant: tenant, Attempt: 2, MaxAttempts: 5, Args: msg}))
	require.Len(t, srv.Mail(), 4)
}

var messageID = regexp.MustCompile(`Message-ID: <([0-9a-f]{32})@acme\.test>\r\n`)

func TestSendFailsWhenTheServerIsDown(t *testing.T) {
	t.Parallel()
	s, err := mail.NewSender("smtp://"+testsvc.ClosedAddr(t), "no-reply@acme.test", testSealer(t))
	require.NoError(t, err)
	err = s.Send(t.Context(), mail.Message{To: "ada@example.com", Subject: "Hi", Text: "x"}, "<1@acme.test>")
	require.ErrorContains(t, err, "mail: connect")
}

// rawSMTPServer accepts connections and has each talk to answer; it is
// closed when the test ends.
func rawSMTPServer(t *testing.T, answer func(conn net.Conn)) string {
	t.Helper()
	ln, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer func() { _ = conn.Close() }()
				answer(conn)
			})
		}
	})
	return ln.Addr().String()
}

// A server that accepts the connection and never answers holds a send only
// until its context is cancelled (the worker shutting down), not for the
// 30 s conversation timeout.
func TestSendEndsWhenItsContextIsCancelled(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	addr := rawSMTPServer(t, func(net.Conn) { <-release })
	t.Cleanup(func() { close(release) })
	s, err := mail.NewSender("smtp://"+addr, "no-reply@acme.test", testSealer(t))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	err = s.Send(ctx, mail.Message{To: "ada@example.com", Subject: "Hi", Text: "x"}, "<1@acme.test>")
	require.ErrorContains(t, err, "mail: greeting")
	require.Less(t, time.Since(start), 5*time.Second, "the send ends with its context")
}

// Once the server has accepted the message (250 after DATA), the message is
// sent: a goodbye that fails does not fail the job, whose retry would send
// the message a second time.
func TestAcceptedMessageIsSentEvenIfQuitFails(t *testing.T) {
	t.Parallel()
	accepted := make(chan struct{}, 1)
	addr := rawSMTPServer(t, func(conn net.Conn) {
		r := bufio.NewReader(conn)
		write := func(line string) { _, _ = conn.Write([]byte(line + "\r\n")) }
		write("220 test ESMTP")
		data := false
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimRight(line, "\r\n")
			switch {
			case data && line == ".":
				data = false
				write("250 queued")
				accepted <- struct{}{}
			case data:
			case strings.HasPrefix(line, "EHLO"), strings.HasPrefix(line, "HELO"):
				write("250 test")
			case strings.HasPrefix(line, "DATA"):
				data = true
				write("354 go on")
			case strings.HasPrefix(line, "QUIT"):
				return // hangs up without its 221
			default:
				write("250 ok")
			}
		}
	})
	s, err := mail.NewSender("smtp://"+addr, "no-reply@acme.test", testSealer(t))
	require.NoError(t, err)
	require.NoError(t, s.Send(t.Context(), mail.Message{To: "ada@example.com", Subject: "Hi", Text: "x"}, "<1@acme.test>"))
	require.Len(t, accepted, 1)
}

func TestValidate(t *testing.T) {
	t.Parallel()
	for _, m := range []mail.Message{
		{To: "not an address", Subject: "Hi"},
		{To: "ada@example.com", Subject: "Hi\r\nBcc: eve@example.com"},
	} {
		require.Equal(t, domain.EINVALID, domain.ErrorCode(m.Validate()), "%+v", m)
	}
	require.NoError(t, mail.Message{To: "ada@example.com", Subject: "Hi"}.Validate())
}

func TestNewSenderRejectsBadConfiguration(t *testing.T) {
	t.Parallel()
	_, err := mail.NewSender("http://user:hunter2@mail.example.com", "a@example.com", testSealer(t))
	require.Error(t, err)
	require.NotContains(t, err.Error(), "hunter2")
	_, err = mail.NewSender("smtp://mail.example.com", "nobody", testSealer(t))
	require.ErrorContains(t, err, "MAIL_FROM")
	_, err = mail.NewSender("smtp://mail.example.com", "a@example.com", nil)
	require.ErrorContains(t, err, "needs the Sealer")
}

func TestMailRunsOnTheEmailQueue(t *testing.T) {
	t.Parallel()
	require.Equal(t, jobs.QueueEmail, mail.Sealed{}.JobOptions().Queue)
}

// A queued email is sealed: nothing of it is readable in the queue, every
// seal differs, and only the same SECRET_KEY opens it, unaltered. A box
// that cannot be opened fails its job permanently.
func TestSealedMail(t *testing.T) {
	t.Parallel()
	msg := mail.Message{To: "grace@example.com", Subject: "You are invited to join Acme", Text: "code: inv_ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
	sealer := testSealer(t)
	box, err := sealer.Seal(msg)
	require.NoError(t, err)
	encoded, err := json.Marshal(box)
	require.NoError(t, err)
	for _, secret := range []string{"grace", "invited", "inv_ABCDEFGHIJKLMNOPQRSTUVWXYZ"} {
		require.NotContains(t, string(box.Box), secret)
		require.NotContains(t, string(encoded), secret)
	}
	again, err := sealer.Seal(msg)
	require.NoError(t, err)
	require.NotEqual(t, box.Box, again.Box, "a fresh nonce every time")

	opened, err := sealer.Open(box)
	require.NoError(t, err)
	require.Equal(t, msg, opened)

	other, err := mail.NewSealer("another-secret-key-0123456789abcdef")
	require.NoError(t, err)
	_, err = other.Open(box)
	require.ErrorContains(t, err, "cannot be opened")
	tampered := mail.Sealed{Box: append([]byte(nil), box.Box...)}
	tampered.Box[len(tampered.Box)-1] ^= 1
	_, err = sealer.Open(tampered)
	require.ErrorContains(t, err, "cannot be opened")
	_, err = sealer.Open(mail.Sealed{Box: []byte("short")})
	require.ErrorContains(t, err, "cannot be opened")

	srv := testsvc.NewSMTPServer(t)
	s, err := mail.NewSender(srv.URL(), "no-reply@acme.test", other)
	require.NoError(t, err)
	err = s.Handle(t.Context(), nil, &jobs.Delivery[mail.Sealed]{Key: "k", Args: box})
	require.True(t, jobs.IsPermanent(err), "%v", err)
	require.Empty(t, srv.Mail())

	_, err = mail.NewSealer("")
	require.Error(t, err)
}

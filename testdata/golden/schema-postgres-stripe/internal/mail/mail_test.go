package mail_test

import (
	"io"
	"mime/quotedprintable"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"example.com/acme/internal/domain"
	"example.com/acme/internal/jobs"
	"example.com/acme/internal/mail"
	"example.com/acme/internal/testsvc"
)

func TestHandleSendsTheMessage(t *testing.T) {
	t.Parallel()
	srv := testsvc.NewSMTPServer(t)
	s, err := mail.NewSender(srv.URL(), "Acme <no-reply@acme.test>")
	require.NoError(t, err)

	msg := mail.Message{To: "Ada <ada@example.com>", Subject: "Grüße from Acme", Text: "Hello Ada,\nyour invoice is ready = 42 €.\n"}
	err = s.Handle(t.Context(), nil, &jobs.Delivery[mail.Message]{Key: "key-1", Attempt: 1, MaxAttempts: 1, Args: msg})
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
	for _, d := range []*jobs.Delivery[mail.Message]{
		{Key: "key-1", Args: msg},
		{Key: "key-2", Args: msg},
		{Key: "key-1", Tenant: jobs.Tenant{ID: "7d1c6e0e-3f5f-4c1e-9a57-0f0c2d2b1a11", Slug: "acme"}, Args: msg},
		{Key: "signup-notice:ada@example.com:2026-01-02T03", Args: msg},
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

var messageID = regexp.MustCompile(`Message-ID: <([0-9a-f]{32})@acme\.test>\r\n`)

func TestSendFailsWhenTheServerIsDown(t *testing.T) {
	t.Parallel()
	s, err := mail.NewSender("smtp://"+testsvc.ClosedAddr(t), "no-reply@acme.test")
	require.NoError(t, err)
	err = s.Send(t.Context(), mail.Message{To: "ada@example.com", Subject: "Hi", Text: "x"}, "<1@acme.test>")
	require.ErrorContains(t, err, "mail: connect")
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
	_, err := mail.NewSender("http://user:hunter2@mail.example.com", "a@example.com")
	require.Error(t, err)
	require.NotContains(t, err.Error(), "hunter2")
	_, err = mail.NewSender("smtp://mail.example.com", "nobody")
	require.ErrorContains(t, err, "MAIL_FROM")
}

func TestMessageRunsOnTheEmailQueue(t *testing.T) {
	t.Parallel()
	require.Equal(t, jobs.QueueEmail, mail.Message{}.JobOptions().Queue)
}

package mail_test

import (
	"io"
	"mime/quotedprintable"
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
	require.Contains(t, header, "Message-ID: <key-1@acme.test>", "the job key makes resends recognisable")
	require.Contains(t, header, "Content-Transfer-Encoding: quoted-printable")
	decoded, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(body)))
	require.NoError(t, err)
	require.Equal(t, "Hello Ada,\r\nyour invoice is ready = 42 €.\r\n", string(decoded))
}

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

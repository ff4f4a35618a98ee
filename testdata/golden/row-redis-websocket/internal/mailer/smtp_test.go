package mailer_test

import (
	"bufio"
	"net"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/acme/shop/internal/domain"
	"github.com/acme/shop/internal/mailer"
	"github.com/acme/shop/internal/testsvc"
)

// smtpServer accepts one message and sends what it received, the envelope
// recipient and the DATA, on the channel.
func smtpServer(t *testing.T) (string, <-chan [2]string) {
	t.Helper()
	ln, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	got := make(chan [2]string, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer func() { _ = conn.Close() }()
		r := bufio.NewReader(conn)
		reply := func(s string) { _, _ = conn.Write([]byte(s + "\r\n")) }
		reply("220 test ESMTP")
		var rcpt string
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			verb := strings.ToUpper(strings.Fields(line + " x")[0])
			switch verb {
			case "EHLO", "HELO", "MAIL":
				reply("250 ok")
			case "RCPT":
				rcpt = strings.TrimSpace(line)
				reply("250 ok")
			case "DATA":
				reply("354 go on")
				var data strings.Builder
				for {
					l, err := r.ReadString('\n')
					if err != nil || l == ".\r\n" {
						break
					}
					data.WriteString(l)
				}
				got <- [2]string{rcpt, data.String()}
				reply("250 queued")
			case "QUIT":
				reply("221 bye")
				return
			default:
				reply("502 no")
			}
		}
	}()
	return "smtp://" + ln.Addr().String(), got
}

func TestSMTPSendsTheMessage(t *testing.T) {
	t.Parallel()
	url, got := smtpServer(t)
	m, err := mailer.NewSMTP(url, "app <no-reply@example.test>")
	require.NoError(t, err)
	err = m.Send(t.Context(), domain.Email{To: "grace@example.com", Subject: "You are invited to join Acmé", Text: "Hello,\nuse inv_X.\n"})
	require.NoError(t, err)
	msg := <-got
	require.Equal(t, "RCPT TO:<grace@example.com>", msg[0])
	require.Contains(t, msg[1], `From: "app" <no-reply@example.test>`)
	require.Contains(t, msg[1], "To: <grace@example.com>")
	require.Contains(t, msg[1], "Subject: =?utf-8?q?You_are_invited_to_join_Acm=C3=A9?=")
	require.Contains(t, msg[1], "Hello,\r\nuse inv_X.")
}

func TestSMTPRefusesBadInputAndReportsOutages(t *testing.T) {
	t.Parallel()
	_, err := mailer.NewSMTP("http://mail.example.test", "no-reply@example.test")
	require.Error(t, err)
	m, err := mailer.NewSMTP("smtp://"+testsvc.ClosedAddr(t), "no-reply@example.test")
	require.NoError(t, err)
	require.Error(t, m.Send(t.Context(), domain.Email{To: "a@example.com", Subject: "Hi\r\nBcc: x@example.com", Text: "x"}), "no header injection")
	require.ErrorContains(t, m.Send(t.Context(), domain.Email{To: "a@example.com", Subject: "Hi", Text: "x"}), "connect")
}

// Package mailer sends the application's email over SMTP: the one
// implementation of domain.Mailer.
package mailer

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/url"
	"strings"
	"time"

	"github.com/acme/shop/internal/domain"
)

// SMTP sends email through one SMTP server: STARTTLS when the server
// offers it (smtp://), TLS from the first byte (smtps://), and PLAIN
// authentication when the URL carries credentials.
type SMTP struct {
	addr     string
	host     string
	implicit bool
	user     *url.Userinfo
	from     *mail.Address
	timeout  time.Duration
}

// NewSMTP returns a mailer for smtpURL (smtp://[user:pass@]host[:port] or
// smtps://...) sending as from.
func NewSMTP(smtpURL, from string) (*SMTP, error) {
	u, err := url.Parse(smtpURL)
	if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
		// The URL may carry a password: keep it out of the error.
		return nil, errors.New("mailer: SMTP_URL must be smtp://host:port or smtps://host:port")
	}
	sender, err := mail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("mailer: sender %q: %w", from, err)
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"smtp": "25", "smtps": "465"}[u.Scheme]
	}
	return &SMTP{
		addr:     net.JoinHostPort(u.Hostname(), port),
		host:     u.Hostname(),
		implicit: u.Scheme == "smtps",
		user:     u.User,
		from:     sender,
		timeout:  30 * time.Second,
	}, nil
}

// Send delivers e, or returns why it could not.
func (s *SMTP) Send(ctx context.Context, e domain.Email) error {
	to, err := mail.ParseAddress(e.To)
	if err != nil {
		return fmt.Errorf("mailer: recipient: %w", err)
	}
	if strings.ContainsAny(e.Subject, "\r\n") {
		return errors.New("mailer: the subject must be one line")
	}
	body, err := s.compose(e, to)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	conn, err := s.dial(ctx)
	if err != nil {
		return fmt.Errorf("mailer: connect: %w", err)
	}
	deadline, _ := ctx.Deadline()
	if dlErr := conn.SetDeadline(deadline); dlErr != nil {
		_ = conn.Close()
		return fmt.Errorf("mailer: %w", dlErr)
	}
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		_ = conn.Close()
		return fmt.Errorf("mailer: greeting: %w", err)
	}
	defer func() { _ = c.Close() }()
	return s.deliver(c, to.Address, body)
}

func (s *SMTP) dial(ctx context.Context) (net.Conn, error) {
	if s.implicit {
		d := &tls.Dialer{Config: &tls.Config{ServerName: s.host, MinVersion: tls.VersionTLS12}}
		return d.DialContext(ctx, "tcp", s.addr)
	}
	return (&net.Dialer{}).DialContext(ctx, "tcp", s.addr)
}

func (s *SMTP) deliver(c *smtp.Client, to string, body []byte) error {
	if err := c.Hello("localhost"); err != nil {
		return fmt.Errorf("mailer: hello: %w", err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok && !s.implicit {
		if err := c.StartTLS(&tls.Config{ServerName: s.host, MinVersion: tls.VersionTLS12}); err != nil {
			return fmt.Errorf("mailer: starttls: %w", err)
		}
	}
	if s.user != nil {
		password, _ := s.user.Password()
		// PlainAuth refuses to send credentials in the clear, except to localhost.
		if err := c.Auth(smtp.PlainAuth("", s.user.Username(), password, s.host)); err != nil {
			return fmt.Errorf("mailer: auth: %w", err)
		}
	}
	if err := c.Mail(s.from.Address); err != nil {
		return fmt.Errorf("mailer: MAIL FROM: %w", err)
	}
	if err := c.Rcpt(to); err != nil {
		return fmt.Errorf("mailer: RCPT TO: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("mailer: DATA: %w", err)
	}
	if _, err := w.Write(body); err != nil {
		return fmt.Errorf("mailer: write: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("mailer: message refused: %w", err)
	}
	if err := c.Quit(); err != nil {
		return fmt.Errorf("mailer: quit: %w", err)
	}
	return nil
}

// compose renders the headers and the text as quoted-printable UTF-8.
func (s *SMTP) compose(e domain.Email, to *mail.Address) ([]byte, error) {
	var b bytes.Buffer
	for _, h := range [][2]string{
		{"From", s.from.String()},
		{"To", to.String()},
		{"Subject", mime.QEncoding.Encode("utf-8", e.Subject)},
		{"Date", time.Now().UTC().Format(time.RFC1123Z)},
		{"MIME-Version", "1.0"},
		{"Content-Type", "text/plain; charset=utf-8"},
		{"Content-Transfer-Encoding", "quoted-printable"},
	} {
		b.WriteString(h[0] + ": " + h[1] + "\r\n")
	}
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	text := strings.ReplaceAll(strings.ReplaceAll(e.Text, "\r\n", "\n"), "\n", "\r\n")
	if _, err := qp.Write([]byte(text)); err != nil {
		return nil, fmt.Errorf("mailer: encode: %w", err)
	}
	if err := qp.Close(); err != nil {
		return nil, fmt.Errorf("mailer: encode: %w", err)
	}
	return b.Bytes(), nil
}

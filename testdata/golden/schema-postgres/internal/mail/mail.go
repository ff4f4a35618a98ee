// Package mail sends email over SMTP. Sending is a background job (its
// argument is the Message, sealed), so a slow or failing mail server never
// holds up a request and a failed send is retried with backoff.
package mail

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
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

	"github.com/jackc/pgx/v5"

	"example.com/acme/internal/domain"
	"example.com/acme/internal/jobs"
	"example.com/acme/internal/postgres/db"
)

// Message is one plain-text email.
type Message struct {
	To      string `json:"to"`
	Subject string `json:"subject"`
	Text    string `json:"text"`
}

// Validate checks the message before it is enqueued or sent.
func (m Message) Validate() error {
	if _, err := mail.ParseAddress(m.To); err != nil {
		return domain.Errorf(domain.EINVALID, "mail: %q is not an email address", m.To)
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		return domain.Errorf(domain.EINVALID, "mail: the subject must be one line")
	}
	return nil
}

// Sender sends messages through one SMTP server, and is the handler of the
// jobs Queue enqueues.
type Sender struct {
	sealer   *Sealer
	addr     string
	host     string
	implicit bool // smtps://: TLS from the first byte
	auth     *url.Userinfo
	from     *mail.Address
	timeout  time.Duration
	sent     *db.Queries // the log of accepted messages; nil: none
}

// NewSender returns a Sender for smtpURL (smtp://[user:pass@]host[:port],
// STARTTLS when the server offers it; or smtps:// for TLS from the start)
// sending as from, opening queued messages with sealer.
func NewSender(smtpURL, from string, sealer *Sealer) (*Sender, error) {
	if sealer == nil {
		return nil, errors.New("mail: a Sender needs the Sealer that queued mail is sealed with")
	}
	u, err := url.Parse(smtpURL)
	if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
		// The URL may carry a password: keep it out of the error.
		return nil, errors.New("mail: SMTP_URL must be smtp://host:port or smtps://host:port")
	}
	addr, err := mail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("mail: MAIL_FROM: %w", err)
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"smtp": "25", "smtps": "465"}[u.Scheme]
	}
	return &Sender{
		sealer:   sealer,
		addr:     net.JoinHostPort(u.Hostname(), port),
		host:     u.Hostname(),
		implicit: u.Scheme == "smtps",
		auth:     u.User,
		from:     addr,
		timeout:  30 * time.Second,
	}, nil
}

// Queue queues email as jobs; it is the application's postgres.MailQueue.
type Queue struct {
	jobs   *jobs.Client
	sealer *Sealer
}

// NewQueue returns a Queue enqueueing with client, sealing with sealer.
func NewQueue(client *jobs.Client, sealer *Sealer) *Queue {
	return &Queue{jobs: client, sealer: sealer}
}

// Enqueue validates m, seals it and enqueues it in tx for tenant, with
// idempotency key key (a new random one when empty).
func (q *Queue) Enqueue(ctx context.Context, tx pgx.Tx, tenant domain.Tenant, key string, m Message) (jobs.Enqueued, error) {
	if err := m.Validate(); err != nil {
		return jobs.Enqueued{}, err
	}
	box, err := q.sealer.Seal(m)
	if err != nil {
		return jobs.Enqueued{}, err
	}
	return q.jobs.Enqueue(ctx, tx, jobs.Job{
		Tenant:  jobs.Tenant{ID: tenant.ID, Slug: tenant.Slug},
		Args:    box,
		Options: jobs.Options{Key: key},
	})
}

// QueueMail implements postgres.MailQueue.
func (q *Queue) QueueMail(ctx context.Context, tx pgx.Tx, tenant domain.Tenant, key string, e domain.Email) error {
	_, err := q.Enqueue(ctx, tx, tenant, key, Message{To: e.To, Subject: e.Subject, Text: e.Text})
	return err
}

// LogSent makes Handle record each message the mail server accepted in the
// control-plane table mail_sent, on conn (the pool, not the job's
// transaction), and skip a message recorded there: a job retried after its
// send, because its transaction did not commit, does not send again.
func (s *Sender) LogSent(conn db.DBTX) *Sender {
	s.sent = db.New(conn)
	return s
}

// Handle is the job handler of queued email. The Message-ID is derived from
// the job's tenant and idempotency key. With LogSent, a message the server
// accepted is not sent again; what stays at-least-once is a crash (or a
// database outage) between the server's acceptance and the record, where
// the retry sends again with the same Message-ID, so a mail server or
// client that deduplicates by Message-ID shows it once. A box that cannot
// be opened fails permanently.
func (s *Sender) Handle(ctx context.Context, _ pgx.Tx, d *jobs.Delivery[Sealed]) error {
	m, err := s.sealer.Open(d.Args)
	if err != nil {
		return jobs.Permanent(err)
	}
	id := s.messageID(d.Tenant.ID, d.Key)
	if s.sent != nil {
		sent, lookErr := s.sent.MailSent(ctx, id)
		if lookErr != nil {
			return fmt.Errorf("mail: look up earlier sends: %w", lookErr)
		}
		if sent {
			return nil
		}
	}
	if err := s.Send(ctx, m, id); err != nil {
		return err
	}
	if s.sent != nil {
		// The message is out: failing the job now would only send it again.
		// A record that cannot be written leaves the job's own commit to
		// keep it from running again.
		recordCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = s.sent.RecordMailSent(recordCtx, id)
	}
	return nil
}

// messageID returns the Message-ID of the email with a job key: a hash, as
// keys may hold characters a Message-ID cannot (an email address, say).
func (s *Sender) messageID(tenantID, key string) string {
	sum := sha256.Sum256([]byte(tenantID + "\x00" + key))
	return "<" + hex.EncodeToString(sum[:16]) + "@" + s.from.Address[strings.LastIndexByte(s.from.Address, '@')+1:] + ">"
}

// Send delivers m now, with the given Message-ID header.
func (s *Sender) Send(ctx context.Context, m Message, messageID string) error {
	if err := m.Validate(); err != nil {
		return err
	}
	to, _ := mail.ParseAddress(m.To) // validated above
	body, err := s.compose(m, to, messageID)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	conn, err := s.dial(ctx)
	if err != nil {
		return err
	}
	// The deadline covers the whole conversation, not just the dial, and
	// cancelling ctx (the worker shutting down) ends it at once: a server
	// that stops answering cannot hold the job past either.
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		_ = conn.Close()
		return fmt.Errorf("mail: greeting: %w", err)
	}
	defer func() { _ = c.Close() }()
	return s.converse(c, to.Address, body)
}

func (s *Sender) dial(ctx context.Context) (net.Conn, error) {
	if s.implicit {
		d := &tls.Dialer{Config: &tls.Config{ServerName: s.host, MinVersion: tls.VersionTLS12}}
		conn, err := d.DialContext(ctx, "tcp", s.addr)
		if err != nil {
			return nil, fmt.Errorf("mail: connect: %w", err)
		}
		return conn, nil
	}
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return nil, fmt.Errorf("mail: connect: %w", err)
	}
	return conn, nil
}

func (s *Sender) converse(c *smtp.Client, to string, body []byte) error {
	if err := c.Hello("localhost"); err != nil {
		return fmt.Errorf("mail: hello: %w", err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok && !s.implicit {
		if err := c.StartTLS(&tls.Config{ServerName: s.host, MinVersion: tls.VersionTLS12}); err != nil {
			return fmt.Errorf("mail: starttls: %w", err)
		}
	}
	if s.auth != nil {
		password, _ := s.auth.Password()
		// PlainAuth refuses to send credentials unencrypted, except to localhost.
		if err := c.Auth(smtp.PlainAuth("", s.auth.Username(), password, s.host)); err != nil {
			return fmt.Errorf("mail: auth: %w", err)
		}
	}
	if err := c.Mail(s.from.Address); err != nil {
		return fmt.Errorf("mail: MAIL FROM: %w", err)
	}
	if err := c.Rcpt(to); err != nil {
		return fmt.Errorf("mail: RCPT TO: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("mail: DATA: %w", err)
	}
	if _, err := w.Write(body); err != nil {
		return fmt.Errorf("mail: write message: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("mail: message refused: %w", err)
	}
	// The server has accepted the message: it is sent. A failed goodbye
	// must not fail the job, whose retry would send it again.
	_ = c.Quit()
	return nil
}

// compose renders the message: headers, then the text as quoted-printable UTF-8.
func (s *Sender) compose(m Message, to *mail.Address, messageID string) ([]byte, error) {
	var b bytes.Buffer
	header := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	header("From", s.from.String())
	header("To", to.String())
	header("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	header("Date", time.Now().UTC().Format(time.RFC1123Z))
	header("Message-ID", messageID)
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	text := strings.ReplaceAll(strings.ReplaceAll(m.Text, "\r\n", "\n"), "\n", "\r\n")
	if _, err := qp.Write([]byte(text)); err != nil {
		return nil, fmt.Errorf("mail: encode body: %w", err)
	}
	if err := qp.Close(); err != nil {
		return nil, fmt.Errorf("mail: encode body: %w", err)
	}
	return b.Bytes(), nil
}

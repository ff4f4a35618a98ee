package testsvc

import (
	"bufio"
	"net"
	"strings"
	"sync"
	"testing"
)

// Mail is one message an SMTPServer received.
type Mail struct {
	From string
	To   []string
	// Data is the message as sent: headers, blank line, body.
	Data string
}

// SMTPServer is a minimal SMTP server on loopback for tests of code that
// sends mail: it speaks enough of RFC 5321 for net/smtp (no TLS, no auth)
// and keeps what it receives.
type SMTPServer struct {
	// Addr is host:port the server listens on.
	Addr string
	ln   net.Listener
	mu   sync.Mutex
	mail []Mail
	wg   sync.WaitGroup
}

// NewSMTPServer starts a server that stops when the test ends.
func NewSMTPServer(tb testing.TB) *SMTPServer {
	tb.Helper()
	ln, err := (&net.ListenConfig{}).Listen(tb.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	s := &SMTPServer{Addr: ln.Addr().String(), ln: ln}
	s.wg.Go(s.serve)
	tb.Cleanup(func() {
		_ = ln.Close()
		s.wg.Wait()
	})
	return s
}

// URL returns the server's smtp:// URL.
func (s *SMTPServer) URL() string { return "smtp://" + s.Addr }

// Mail returns the messages received so far.
func (s *SMTPServer) Mail() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mail...)
}

func (s *SMTPServer) serve() {
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Go(func() { s.session(conn) })
	}
}

func (s *SMTPServer) session(conn net.Conn) {
	defer func() { _ = conn.Close() }()
	r := bufio.NewReader(conn)
	reply := func(line string) bool {
		_, err := conn.Write([]byte(line + "\r\n"))
		return err == nil
	}
	if !reply("220 testsvc ESMTP") {
		return
	}
	var cur Mail
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb := strings.ToUpper(strings.SplitN(line, " ", 2)[0])
		var ok bool
		switch verb {
		case "EHLO":
			ok = reply("250-testsvc") && reply("250 8BITMIME")
		case "HELO", "NOOP":
			ok = reply("250 ok")
		case "RSET":
			cur = Mail{}
			ok = reply("250 ok")
		case "MAIL":
			cur = Mail{From: addrArg(line)}
			ok = reply("250 ok")
		case "RCPT":
			cur.To = append(cur.To, addrArg(line))
			ok = reply("250 ok")
		case "DATA":
			if !reply("354 end with <CRLF>.<CRLF>") {
				return
			}
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(strings.TrimPrefix(l, ".")) // undo dot-stuffing
			}
			cur.Data = b.String()
			s.mu.Lock()
			s.mail = append(s.mail, cur)
			s.mu.Unlock()
			cur = Mail{}
			ok = reply("250 queued")
		case "QUIT":
			_ = reply("221 bye")
			return
		default:
			// RFC 5321's reply to a command a server does not support; the
			// app's client only ever sends the commands above.
			ok = reply("502 command not implemented")
		}
		if !ok {
			return
		}
	}
}

// addrArg returns the address in "MAIL FROM:<a@b>" or "RCPT TO:<a@b>".
func addrArg(line string) string {
	start, end := strings.IndexByte(line, '<'), strings.LastIndexByte(line, '>')
	if start < 0 || end < start {
		return ""
	}
	return line[start+1 : end]
}

// Package smtpsink is a real SMTP server (go-smtp) for tests that send
// mail: it stands in for [sieve] submission_host and keeps every message
// it accepts. A message is recorded before the client has the reply to
// its DATA, so a test may read Messages as soon as the sender returns.
package smtpsink

import (
	"io"
	"net"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"
)

// Message is one accepted message: its envelope and its bytes.
type Message struct {
	From string
	To   []string
	Data string
}

// Sink keeps what the server accepted.
type Sink struct {
	mu     sync.Mutex
	got    []Message
	refuse string
}

// Start serves a Sink on a loopback port until the test ends and
// returns it with its address (host:port).
func Start(t testing.TB) (*Sink, string) {
	t.Helper()
	k := &Sink{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &session{k: k}, nil }))
	srv.Domain = "sink.test"
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return k, l.Addr().String()
}

// DeadAddr is a TCP address nothing listens on (a port just released):
// submission_host down.
func DeadAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// RefuseRcpt makes RCPT TO:<addr> fail with 450 4.2.1 from now on.
func (k *Sink) RefuseRcpt(addr string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.refuse = addr
}

// Messages returns what was accepted so far, in order.
func (k *Sink) Messages() []Message {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]Message(nil), k.got...)
}

type session struct {
	k   *Sink
	cur Message
}

func (s *session) Reset()        { s.cur = Message{} }
func (s *session) Logout() error { return nil }

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.cur.From = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.k.mu.Lock()
	refuse := s.k.refuse
	s.k.mu.Unlock()
	if to == refuse {
		return &smtp.SMTPError{Code: 450, EnhancedCode: smtp.EnhancedCode{4, 2, 1}, Message: "try later"}
	}
	s.cur.To = append(s.cur.To, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.Data = string(b)
	s.k.mu.Lock()
	s.k.got = append(s.k.got, s.cur)
	s.k.mu.Unlock()
	return nil
}

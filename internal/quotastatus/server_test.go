package quotastatus

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"maildeliver/internal/quota"
	"maildeliver/internal/status"
)

// policyFunc is a Policy; the delivery side is tested with real
// maildirs in package delivery and through lmtpd (package lmtp).
type policyFunc func(ctx context.Context, rcpt string, size int64) error

func (f policyFunc) QuotaStatus(ctx context.Context, rcpt string, size int64) error {
	return f(ctx, rcpt, size)
}

// mailboxes: full@x holds 1000 of 2000 bytes; unknown@x does not exist.
func mailboxes(_ context.Context, rcpt string, size int64) error {
	switch rcpt {
	case "full@x", "defer@x":
		policy := status.QuotaBounce
		if rcpt == "defer@x" {
			policy = status.QuotaDefer
		}
		if 1000+size > 2000 {
			return status.OverQuota(rcpt, policy).Wrap(fmt.Errorf("%w: size %d", quota.ErrOverQuota, size))
		}
		return nil
	case "unknown@x":
		return status.UserUnknown(rcpt)
	case "down@x":
		return status.Temp("user lookup failed")
	}
	return nil
}

type testServer struct {
	t    *testing.T
	srv  *Server
	path string
	done chan error
}

func startServer(t *testing.T, p Policy, opt Options) *testServer {
	t.Helper()
	path := filepath.Join(t.TempDir(), "quota-status")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{t: t, srv: New(p, opt), path: path, done: make(chan error, 1)}
	go func() { ts.done <- ts.srv.Serve(l) }()
	t.Cleanup(func() { ts.stop() })
	return ts
}

func (ts *testServer) stop() {
	if ts.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); err != nil {
		ts.t.Errorf("Shutdown: %v", err)
	}
	if err := <-ts.done; err != nil {
		ts.t.Errorf("Serve: %v", err)
	}
	ts.srv = nil
}

type client struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func (ts *testServer) dial() *client {
	ts.t.Helper()
	c, err := net.Dial("unix", ts.path)
	if err != nil {
		ts.t.Fatal(err)
	}
	ts.t.Cleanup(func() { c.Close() })
	return &client{t: ts.t, c: c, r: bufio.NewReader(c)}
}

// ask sends one request and returns the action.
func (c *client) ask(req string) string {
	c.t.Helper()
	if _, err := io.WriteString(c.c, req); err != nil {
		c.t.Fatal(err)
	}
	return c.answer()
}

func (c *client) answer() string {
	c.t.Helper()
	line, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("reading the answer: %v", err)
	}
	blank, err := c.r.ReadString('\n')
	if err != nil || blank != "\n" {
		c.t.Fatalf("answer not ended by an empty line: %q %v", blank, err)
	}
	action, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "action=")
	if !ok {
		c.t.Fatalf("answer %q", line)
	}
	return action
}

func rcpt(addr string, size int64) string {
	return fmt.Sprintf("request=smtpd_access_policy\nprotocol_state=RCPT\nsender=s@y\nrecipient=%s\nsize=%d\n\n", addr, size)
}

// One connection, kept alive, asked for each recipient of one message in
// turn (Postfix asks once per RCPT TO, with the MAIL FROM SIZE).
func TestServerRecipients(t *testing.T) {
	ts := startServer(t, policyFunc(mailboxes), Options{})
	c := ts.dial()
	for _, tc := range []struct {
		req, want string
	}{
		{rcpt("ok@x", 5000), "DUNNO"},
		{rcpt("full@x", 1500), "552 5.2.2 <full@x>: mailbox is full"},
		{rcpt("full@x", 500), "DUNNO"},
		{rcpt("full@x", 0), "DUNNO"},
		{rcpt("defer@x", 1500), "452 4.2.2 <defer@x>: mailbox is full"},
		{rcpt("unknown@x", 1500), "DUNNO"},
		{rcpt("down@x", 1500), "DUNNO"},
		{"request=smtpd_access_policy\nprotocol_state=DATA\nrecipient=\nsize=9999\n\n", "DUNNO"},
		{"request=other\nrecipient=full@x\nsize=9999\n\n", "DUNNO"},
		{"request=smtpd_access_policy\nrecipient=full@x\nsize=lots\n\n", "DUNNO"},
		{"garbage\nrecipient=full@x\nsize=9999\n\n", "DUNNO"},
		{postfixRequest, "DUNNO"},
		{strings.Replace(postfixRequest, "alice@domain.org", "full@x", 1), "552 5.2.2 <full@x>: mailbox is full"},
	} {
		if got := c.ask(tc.req); got != tc.want {
			t.Errorf("%q: action=%s, want %s", tc.req, got, tc.want)
		}
	}
}

// A question not answered within the timeout is DUNNO, and the
// connection goes on.
func TestServerTimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	p := policyFunc(func(ctx context.Context, rcpt string, size int64) error {
		if rcpt == "slow@x" {
			<-release // a hung file system: ignores ctx
			return status.OverQuota(rcpt, status.QuotaBounce).Wrap(quota.ErrOverQuota)
		}
		return mailboxes(ctx, rcpt, size)
	})
	ts := startServer(t, p, Options{Timeout: 50 * time.Millisecond})
	c := ts.dial()
	if got := c.ask(rcpt("slow@x", 1)); got != "DUNNO" {
		t.Errorf("hung question: action=%s, want DUNNO", got)
	}
	if got := c.ask(rcpt("full@x", 1500)); got != "552 5.2.2 <full@x>: mailbox is full" {
		t.Errorf("after a timeout: action=%s", got)
	}
}

// Many connections at once (several smtpd processes), and a panicking
// policy answers DUNNO instead of taking lmtpd down.
func TestServerConcurrentAndPanic(t *testing.T) {
	p := policyFunc(func(ctx context.Context, rcpt string, size int64) error {
		if rcpt == "panic@x" {
			panic("boom")
		}
		return mailboxes(ctx, rcpt, size)
	})
	ts := startServer(t, p, Options{MaxConns: 4})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			c := ts.dial()
			for range 20 {
				if got := c.ask(rcpt("full@x", 1500)); got != "552 5.2.2 <full@x>: mailbox is full" {
					t.Errorf("client %d: %s", i, got)
				}
			}
			c.c.Close() // frees the slot for the clients waiting
		})
	}
	wg.Wait()
	if got := ts.dial().ask(rcpt("panic@x", 1)); got != "DUNNO" {
		t.Errorf("panic: action=%s", got)
	}
}

// Shutdown ends idle kept-alive connections and returns.
func TestServerShutdown(t *testing.T) {
	ts := startServer(t, policyFunc(mailboxes), Options{})
	c := ts.dial()
	c.ask(rcpt("ok@x", 1))
	ts.stop()
	if _, err := c.r.ReadByte(); err != io.EOF {
		t.Errorf("idle connection after Shutdown: %v, want EOF", err)
	}
}

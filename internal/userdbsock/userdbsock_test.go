package userdbsock

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"maildeliver/internal/lookup"
)

// ioTimeout bounds every wait, so a bug fails the test instead of hanging it.
const ioTimeout = 30 * time.Second

// fakeDB answers from a map; "fail@x" is a database error whose text
// must stay in the server's log; "block@x" waits for release (or its
// context); "panic@x" panics.
type fakeDB struct {
	users   map[string]*lookup.User
	calls   atomic.Int64
	started chan string   // receives "block@x" when such a lookup begins
	release chan struct{} // closed to let "block@x" lookups answer
}

const secretDetail = "pq: password authentication failed for user mailreader (password=hunter2)"

func newFakeDB() *fakeDB {
	return &fakeDB{
		users: map[string]*lookup.User{
			"bob@example.org": {Address: "bob@example.org", Home: "/home/bob", UID: 1001, GID: 1002,
				QuotaRule: "*:storage=1G", QuotaBytes: -1, QuotaMessages: 10},
			"static@example.org": {Address: "static@example.org", UID: lookup.NoID, GID: lookup.NoID,
				QuotaBytes: -1, QuotaMessages: -1},
		},
		started: make(chan string, 16),
		release: make(chan struct{}),
	}
}

func (f *fakeDB) Lookup(ctx context.Context, address string) (*lookup.User, error) {
	f.calls.Add(1)
	switch address {
	case "fail@x":
		return nil, errors.New(secretDetail)
	case "panic@x":
		panic("userdb exploded")
	case "block@x":
		f.started <- address
		select {
		case <-f.release:
			return nil, lookup.ErrNotFound
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if u, ok := f.users[address]; ok {
		c := *u
		return &c, nil
	}
	return nil, lookup.ErrNotFound
}

func (*fakeDB) Close() error { return nil }

// sockPath returns a socket path short enough for sun_path (108 bytes).
func sockPath(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "udb")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "s")
}

// lockedBuffer collects the server's log.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type testServer struct {
	t    *testing.T
	path string
	srv  *Server
	db   *fakeDB
	logs *lockedBuffer
	done chan error
}

// serve starts a Server over a fakeDB on a fresh socket; it is shut down
// when the test ends.
func serve(t *testing.T, opt ServerOptions) *testServer {
	t.Helper()
	ts := &testServer{t: t, path: sockPath(t), db: newFakeDB(), logs: &lockedBuffer{}, done: make(chan error, 1)}
	opt.Log = slog.New(slog.NewTextHandler(ts.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ts.srv = NewServer(ts.db, opt)
	l, err := net.Listen("unix", ts.path)
	if err != nil {
		t.Fatal(err)
	}
	go func() { ts.done <- ts.srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
		defer cancel()
		if err := ts.srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-ts.done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", ts.logs.String())
		}
	})
	return ts
}

func (ts *testServer) client() *Client { return &Client{Path: ts.path, Timeout: ioTimeout} }

// raw is a connection speaking the wire format by hand.
type raw struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func (ts *testServer) raw() *raw {
	ts.t.Helper()
	c, err := net.Dial("unix", ts.path)
	if err != nil {
		ts.t.Fatal(err)
	}
	ts.t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(ioTimeout))
	return &raw{t: ts.t, c: c, r: bufio.NewReader(c)}
}

func (r *raw) send(s string) {
	r.t.Helper()
	if _, err := io.WriteString(r.c, s); err != nil {
		r.t.Fatal(err)
	}
}

// answer reads one response line and decodes it generically.
func (r *raw) answer() map[string]any {
	r.t.Helper()
	line, err := r.r.ReadString('\n')
	if err != nil {
		r.t.Fatalf("reading an answer: %v (got %q)", err, line)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		r.t.Fatalf("answer %q: %v", line, err)
	}
	return m
}

func (r *raw) expectError(want string) {
	r.t.Helper()
	if m := r.answer(); len(m) != 1 || m["error"] != want {
		r.t.Errorf("answer %v, want only error %q", m, want)
	}
}

// closed: the server has closed the connection. A server that closes
// with unread data makes the peer's next read ECONNRESET (Linux AF_UNIX),
// after what was sent.
func (r *raw) closed() {
	r.t.Helper()
	if b, err := r.r.ReadByte(); err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
		r.t.Errorf("read %q, %v; want EOF (connection closed)", b, err)
	}
}

func TestAnswers(t *testing.T) {
	ts := serve(t, ServerOptions{})
	c := ts.client()
	ctx := context.Background()

	u, err := c.Lookup(ctx, "bob@example.org")
	if err != nil {
		t.Fatal(err)
	}
	if want := ts.db.users["bob@example.org"]; !reflect.DeepEqual(u, want) {
		t.Errorf("found %+v, want %+v", u, want)
	}
	u, err = c.Lookup(ctx, "static@example.org")
	if err != nil || u.UID != lookup.NoID || u.GID != lookup.NoID || u.QuotaBytes != -1 {
		t.Errorf("static user: %+v, %v", u, err)
	}

	if u, err := c.Lookup(ctx, "nobody@example.org"); !errors.Is(err, lookup.ErrNotFound) || u != nil {
		t.Errorf("unknown user: %v, %v; want ErrNotFound", u, err)
	}

	_, err = c.Lookup(ctx, "fail@x")
	if err == nil || errors.Is(err, lookup.ErrNotFound) || errors.Is(err, ErrUnavailable) {
		t.Fatalf("database error: %v; want a temporary error", err)
	}
	if strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), errLookup) {
		t.Errorf("client error %q: want the public text only", err)
	}
	if !strings.Contains(ts.logs.String(), "hunter2") || !strings.Contains(ts.logs.String(), "fail@x") {
		t.Errorf("the detail is not in the server's log:\n%s", ts.logs.String())
	}

	// A panicking userdb is an error answer; the server lives on.
	if _, err := c.Lookup(ctx, "panic@x"); err == nil || errors.Is(err, lookup.ErrNotFound) {
		t.Errorf("panic: %v; want a temporary error", err)
	}
	if _, err := c.Lookup(ctx, "bob@example.org"); err != nil {
		t.Errorf("after a panic: %v", err)
	}

	// Not valid UTF-8: not found without asking, as lookup.DB does.
	before := ts.db.calls.Load()
	if _, err := c.Lookup(ctx, "b\xffb@example.org"); !errors.Is(err, lookup.ErrNotFound) {
		t.Errorf("invalid UTF-8: %v", err)
	}
	if ts.db.calls.Load() != before {
		t.Error("invalid UTF-8 address was sent")
	}
}

// Every field of lookup.User survives the trip; a field added there and
// forgotten here fails this test.
func TestWireUserComplete(t *testing.T) {
	var u lookup.User
	v := reflect.ValueOf(&u).Elem()
	for i := range v.NumField() {
		switch f := v.Field(i); f.Kind() {
		case reflect.String:
			f.SetString(fmt.Sprintf("value %d ☃ \"q\"\n", i))
		case reflect.Int64:
			f.SetInt(int64(1000 + i))
		default:
			t.Fatalf("lookup.User.%s: kind %v not handled by this test", v.Type().Field(i).Name, f.Kind())
		}
	}
	b, err := json.Marshal(response{User: toWire(&u)})
	if err != nil {
		t.Fatal(err)
	}
	got, err := decode(append(b, '\n'))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*got, u) {
		t.Errorf("round trip:\n got %+v\nwant %+v", *got, u)
	}
	// Members left out are absent, not zero: uid 0 would be root.
	got, err = decode([]byte(`{"user":{"home":"/h"}}` + "\n"))
	want := lookup.User{Home: "/h", UID: lookup.NoID, GID: lookup.NoID, QuotaBytes: -1, QuotaMessages: -1}
	if err != nil || !reflect.DeepEqual(*got, want) {
		t.Errorf("sparse user: %+v, %v; want %+v", got, err, want)
	}
}

func TestDecodeMalformed(t *testing.T) {
	for _, line := range []string{
		"", "hello", "{}", `{"user":null}`, `{"notfound":false}`, `{"error":""}`,
		`{"notfound":true,"error":"x"}`, `{"user":{},"notfound":true}`, `{"user":{"uid":"x"}}`,
		`[1]`, `{"notfound":true}{"notfound":true}`,
	} {
		_, err := decode([]byte(line + "\n"))
		if err == nil || errors.Is(err, lookup.ErrNotFound) || errors.Is(err, ErrUnavailable) {
			t.Errorf("decode(%q) = %v; want a malformed-answer error", line, err)
		}
	}
	// Unknown members are ignored (either side may add optional ones).
	if _, err := decode([]byte(`{"notfound":true,"ttl":5}` + "\n")); !errors.Is(err, lookup.ErrNotFound) {
		t.Errorf("unknown member: %v", err)
	}
}

func TestManyRequestsPerConnection(t *testing.T) {
	ts := serve(t, ServerOptions{})
	r := ts.raw()
	// Pipelined: all requests in one write, answers in order.
	var b strings.Builder
	const n = 200
	for i := range n {
		if i%2 == 0 {
			b.WriteString(`{"address":"bob@example.org"}` + "\n")
		} else {
			fmt.Fprintf(&b, `{"address":"u%d@example.org","future":1}`+"\n", i)
		}
	}
	r.send(b.String())
	for i := range n {
		m := r.answer()
		if i%2 == 0 {
			u, _ := m["user"].(map[string]any)
			if u["home"] != "/home/bob" || u["uid"] != 1001.0 {
				t.Fatalf("answer %d: %v", i, m)
			}
		} else if m["notfound"] != true || len(m) != 1 {
			t.Fatalf("answer %d: %v", i, m)
		}
	}
}

func TestMalformedRequests(t *testing.T) {
	ts := serve(t, ServerOptions{})
	r := ts.raw()
	for _, line := range []string{"hello", "{}", `{"address":""}`, `{"address":5}`, "[]", "null", `"bob@example.org"`, ""} {
		r.send(line + "\n")
		r.expectError(errMalformed)
	}
	// The connection still serves.
	r.send(`{"address":"nobody@example.org"}` + "\n")
	if m := r.answer(); m["notfound"] != true {
		t.Errorf("after malformed requests: %v", m)
	}
	if ts.db.calls.Load() != 1 {
		t.Errorf("%d lookups, want 1: malformed requests must not reach the userdb", ts.db.calls.Load())
	}
}

func TestLineLength(t *testing.T) {
	ts := serve(t, ServerOptions{})
	// Exactly MaxLine bytes with the "\n": answered (JSON allows the
	// padding).
	pad := func(n int) string {
		s := `{"address":"bob@example.org"}`
		return s + strings.Repeat(" ", n-len(s)-1) + "\n"
	}
	r := ts.raw()
	r.send(pad(MaxLine))
	if m := r.answer(); m["user"] == nil {
		t.Errorf("line of MaxLine bytes: %v", m)
	}
	// One more byte: refused, and the connection is closed.
	r.send(pad(MaxLine + 1))
	r.expectError(errTooLong)
	r.closed()

	// Without a newline at all (a stream of garbage), likewise.
	r = ts.raw()
	go io.Copy(r.c, io.LimitReader(zeros{}, 4*MaxLine)) // may fail once closed
	r.expectError(errTooLong)
	r.closed()
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestReadTimeout(t *testing.T) {
	ts := serve(t, ServerOptions{Timeout: 50 * time.Millisecond})
	// Idle after connecting: closed.
	r := ts.raw()
	r.closed()
	// Half a request line, then nothing: closed unanswered.
	r = ts.raw()
	r.send(`{"address":"bob@`)
	r.closed()
	// Idle between requests: answered, then closed.
	r = ts.raw()
	r.send(`{"address":"bob@example.org"}` + "\n")
	if m := r.answer(); m["user"] == nil {
		t.Errorf("answer %v", m)
	}
	r.closed()
}

// TestConcurrentClients: more clients than MaxConns; those beyond it are
// told "busy" (nothing looked up) and ask again.
func TestConcurrentClients(t *testing.T) {
	ts := serve(t, ServerOptions{MaxConns: 8})
	var wg sync.WaitGroup
	var busy atomic.Int64
	errs := make(chan error, 32*20)
	for g := range 32 {
		wg.Go(func() {
			c := ts.client()
			for i := range 20 {
				addr := "bob@example.org"
				if (g+i)%3 == 0 {
					addr = fmt.Sprintf("nobody%d@example.org", i)
				}
				u, err := c.Lookup(context.Background(), addr)
				for errors.Is(err, ErrUnavailable) {
					busy.Add(1)
					u, err = c.Lookup(context.Background(), addr)
				}
				switch {
				case addr == "bob@example.org" && (err != nil || u.Home != "/home/bob"):
					errs <- fmt.Errorf("%s: %+v, %v", addr, u, err)
				case addr != "bob@example.org" && !errors.Is(err, lookup.ErrNotFound):
					errs <- fmt.Errorf("%s: %+v, %v", addr, u, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := ts.db.calls.Load(); n != 32*20 {
		t.Errorf("%d lookups, want %d", n, 32*20)
	}
	t.Logf("%d busy answers", busy.Load())
}

// At MaxConns the server answers further connections "busy" at once, and
// serves again when a connection ends.
func TestConnectionLimit(t *testing.T) {
	ts := serve(t, ServerOptions{MaxConns: 1})
	first := ts.raw()
	first.send(`{"address":"bob@example.org"}` + "\n")
	first.answer() // accepted and being served

	second := ts.raw()
	if line, err := second.r.ReadString('\n'); err != nil || line != string(busyLine) {
		t.Errorf("beyond the limit: %q, %v; want %q", line, err, busyLine)
	}
	second.closed()
	if _, err := ts.client().Lookup(context.Background(), "bob@example.org"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("client beyond the limit: %v, want ErrUnavailable", err)
	}
	first.c.Close()
	// The slot is freed when the server has seen the close: ask until then.
	deadline := time.Now().Add(ioTimeout)
	for {
		_, err := ts.client().Lookup(context.Background(), "bob@example.org")
		if err == nil {
			break
		}
		if !errors.Is(err, ErrUnavailable) || time.Now().After(deadline) {
			t.Fatalf("not served after the first client left: %v", err)
		}
	}
	if !strings.Contains(ts.logs.String(), "all connections in use") {
		t.Errorf("refusal not logged:\n%s", ts.logs.String())
	}
}

// Clients that keep every slot busy by asking without pause must not make
// deliver wait and defer: it gets "busy" and asks SQL (issue 17 item 8:
// deliver sat in the listen queue and deferred after its timeout).
func TestSlotStarvation(t *testing.T) {
	const slots = 4
	ts := serve(t, ServerOptions{MaxConns: slots})
	stop := make(chan struct{})
	var hogs sync.WaitGroup
	for range slots {
		r := ts.raw()
		r.send(`{"address":"bob@example.org"}` + "\n")
		r.answer() // holds a slot now
		hogs.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := io.WriteString(r.c, `{"address":"bob@example.org"}`+"\n"); err != nil {
					return
				}
				if _, err := r.r.ReadString('\n'); err != nil {
					return
				}
			}
		})
	}
	defer func() { close(stop); hogs.Wait() }()
	spy := &sqlSpy{fakeDB: newFakeDB()}
	f := NewFallback(ts.path, 3*time.Second, func() (lookup.Userdb, error) { return spy, nil }, nil)
	defer f.Close()
	u, err := f.Lookup(context.Background(), "bob@example.org")
	if err != nil || u.UID != 1001 {
		t.Fatalf("lookup while every slot is busy: %+v, %v; want the SQL answer", u, err)
	}
	if spy.calls.Load() != 1 {
		t.Errorf("%d SQL lookups, want 1", spy.calls.Load())
	}
}

// A connection lives at most MaxConnTime, however busy its client keeps it.
func TestMaxConnTime(t *testing.T) {
	ts := serve(t, ServerOptions{MaxConnTime: 100 * time.Millisecond})
	r := ts.raw()
	deadline := time.Now().Add(ioTimeout)
	for n := 0; ; n++ {
		if _, err := io.WriteString(r.c, `{"address":"bob@example.org"}`+"\n"); err != nil {
			break
		}
		if _, err := r.r.ReadString('\n'); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("connection still open after %d requests in %v", n, ioTimeout)
		}
	}
}

// Shutdown answers the lookup in progress, ends idle connections and
// removes the socket, so that the next deliver falls back to SQL.
func TestShutdown(t *testing.T) {
	ts := serve(t, ServerOptions{})
	idle := ts.raw()
	idle.send(`{"address":"bob@example.org"}` + "\n")
	idle.answer()
	busy := ts.raw()
	busy.send(`{"address":"block@x"}` + "\n")
	<-ts.db.started

	stopped := make(chan error, 1)
	go func() { stopped <- ts.srv.Shutdown(context.Background()) }()
	idle.closed()
	if err := <-ts.done; err != nil {
		t.Errorf("Serve: %v", err)
	}
	ts.done <- nil // for the cleanup
	if _, err := os.Lstat(ts.path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket file after Shutdown: %v", err)
	}
	if _, err := ts.client().Lookup(context.Background(), "bob@example.org"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("lookup after Shutdown: %v, want ErrUnavailable", err)
	}
	select {
	case err := <-stopped:
		t.Fatalf("Shutdown returned %v with a lookup in progress", err)
	default:
	}
	close(ts.db.release)
	if m := busy.answer(); m["notfound"] != true {
		t.Errorf("lookup in progress answered %v", m)
	}
	busy.closed()
	if err := <-stopped; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// When Shutdown's deadline passes, lookups in progress are cancelled and
// their connections closed unanswered.
func TestShutdownDeadline(t *testing.T) {
	ts := serve(t, ServerOptions{})
	busy := ts.raw()
	busy.send(`{"address":"block@x"}` + "\n")
	<-ts.db.started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := ts.srv.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Shutdown = %v, want context.Canceled", err)
	}
	// The cancelled lookup may still be answered "error" before the
	// close; never "notfound".
	line, _ := busy.r.ReadString('\n')
	if line != "" && line != `{"error":"`+errLookup+`"}`+"\n" {
		t.Errorf("cut lookup answered %q", line)
	}
}

// The client's side of failures: only a socket that cannot be dialed is
// ErrUnavailable; anything after connecting is a temporary error.
func TestClientFailures(t *testing.T) {
	ctx := context.Background()
	t.Run("no socket", func(t *testing.T) {
		c := &Client{Path: sockPath(t), Timeout: ioTimeout}
		if _, err := c.Lookup(ctx, "bob@example.org"); !errors.Is(err, ErrUnavailable) {
			t.Errorf("%v, want ErrUnavailable", err)
		}
	})
	t.Run("stale socket", func(t *testing.T) {
		path := sockPath(t)
		l, err := net.Listen("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		l.(*net.UnixListener).SetUnlinkOnClose(false)
		l.Close()
		c := &Client{Path: path, Timeout: ioTimeout}
		if _, err := c.Lookup(ctx, "bob@example.org"); !errors.Is(err, ErrUnavailable) {
			t.Errorf("%v, want ErrUnavailable", err)
		}
	})
	// Servers that misbehave after accepting: each gets the request line
	// and then does what its func says.
	for name, behave := range map[string]func(net.Conn){
		"closes mid-request":   func(c net.Conn) {},
		"garbage":              func(c net.Conn) { io.WriteString(c, "hello\n") },
		"two answers in one":   func(c net.Conn) { io.WriteString(c, `{"notfound":true,"error":"x"}`+"\n") },
		"no newline":           func(c net.Conn) { io.WriteString(c, `{"notfound":true}`) },
		"error":                func(c net.Conn) { io.WriteString(c, `{"error":"userdb lookup failed"}`+"\n") },
		"answer too long":      func(c net.Conn) { io.WriteString(c, `{"error":"`+strings.Repeat("x", MaxLine)+`"}`+"\n") },
		"never answers (10ms)": func(c net.Conn) { io.Copy(io.Discard, c) },
	} {
		t.Run(name, func(t *testing.T) {
			path := fakeServer(t, behave)
			c := &Client{Path: path, Timeout: ioTimeout}
			if strings.HasPrefix(name, "never") {
				c.Timeout = 10 * time.Millisecond
			}
			_, err := c.Lookup(ctx, "bob@example.org")
			if err == nil || errors.Is(err, ErrUnavailable) || errors.Is(err, lookup.ErrNotFound) {
				t.Errorf("%v; want a temporary error", err)
			}
			// Fallback must not turn it into a SQL lookup.
			f := NewFallback(path, c.Timeout, func() (lookup.Userdb, error) {
				t.Error("fell back to SQL after connecting")
				return nil, errors.New("no")
			}, nil)
			if _, err := f.Lookup(ctx, "bob@example.org"); err == nil || errors.Is(err, lookup.ErrNotFound) {
				t.Errorf("Fallback: %v; want a temporary error", err)
			}
		})
	}
	t.Run("context cancelled", func(t *testing.T) {
		path := fakeServer(t, func(c net.Conn) { io.Copy(io.Discard, c) })
		ctx, cancel := context.WithCancel(ctx)
		time.AfterFunc(10*time.Millisecond, cancel)
		c := &Client{Path: path, Timeout: ioTimeout}
		if _, err := c.Lookup(ctx, "bob@example.org"); err == nil || errors.Is(err, ErrUnavailable) {
			t.Errorf("%v; want a temporary error", err)
		}
	})
}

// fakeServer accepts connections on a fresh socket, reads one request
// line from each and hands the connection to behave, then closes it.
func fakeServer(t *testing.T, behave func(net.Conn)) string {
	t.Helper()
	path := sockPath(t)
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(ioTimeout))
				if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
					t.Errorf("fake server: reading the request: %v", err)
					return
				}
				behave(c)
			})
		}
	})
	return path
}

// sqlSpy is the SQL userdb of the Fallback tests.
type sqlSpy struct {
	*fakeDB
	closed bool
}

func (s *sqlSpy) Close() error { s.closed = true; return nil }

func TestFallback(t *testing.T) {
	ctx := context.Background()
	t.Run("socket answers: SQL never opened", func(t *testing.T) {
		ts := serve(t, ServerOptions{})
		f := NewFallback(ts.path, ioTimeout, func() (lookup.Userdb, error) {
			t.Error("opened SQL although the socket answers")
			return nil, errors.New("no")
		}, nil)
		if u, err := f.Lookup(ctx, "bob@example.org"); err != nil || u.UID != 1001 {
			t.Errorf("%+v, %v", u, err)
		}
		if _, err := f.Lookup(ctx, "nobody@example.org"); !errors.Is(err, lookup.ErrNotFound) {
			t.Errorf("unknown: %v", err)
		}
		if _, err := f.Lookup(ctx, "fail@x"); err == nil || errors.Is(err, lookup.ErrNotFound) {
			t.Errorf("error answer: %v", err)
		}
		if err := f.Close(); err != nil {
			t.Error(err)
		}
	})
	t.Run("no socket: SQL, opened once", func(t *testing.T) {
		var logs lockedBuffer
		spy := &sqlSpy{fakeDB: newFakeDB()}
		opened := 0
		path := sockPath(t)
		f := NewFallback(path, ioTimeout, func() (lookup.Userdb, error) {
			opened++
			return spy, nil
		}, slog.New(slog.NewTextHandler(&logs, nil)))
		if u, err := f.Lookup(ctx, "bob@example.org"); err != nil || u.UID != 1001 {
			t.Errorf("%+v, %v", u, err)
		}
		if _, err := f.Lookup(ctx, "nobody@example.org"); !errors.Is(err, lookup.ErrNotFound) {
			t.Errorf("unknown: %v", err)
		}
		if opened != 1 || spy.calls.Load() != 2 {
			t.Errorf("opened %d times, %d SQL lookups; want 1, 2", opened, spy.calls.Load())
		}
		if !strings.Contains(logs.String(), "userdb socket unavailable") || !strings.Contains(logs.String(), path) {
			t.Errorf("fallback not logged: %s", logs.String())
		}
		f.Close()
		if !spy.closed {
			t.Error("SQL userdb not closed")
		}
	})
	t.Run("no socket, SQL cannot open", func(t *testing.T) {
		f := NewFallback(sockPath(t), ioTimeout, func() (lookup.Userdb, error) {
			return nil, errors.New("bad user_query")
		}, nil)
		_, err := f.Lookup(ctx, "bob@example.org")
		if err == nil || errors.Is(err, lookup.ErrNotFound) || !strings.Contains(err.Error(), "bad user_query") {
			t.Errorf("%v", err)
		}
		if err := f.Close(); err != nil {
			t.Error(err)
		}
	})
}

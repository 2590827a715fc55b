package delivery

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"maildeliver/internal/config"
	"maildeliver/internal/lookup"
	"maildeliver/internal/message"
	"maildeliver/internal/quota"
)

// warnEnv is an agent with [quota] warning set and one user, u@x, with a
// storage limit, whose maildir is created by the first delivery.
type warnEnv struct {
	t       *testing.T
	agent   *Agent
	maildir string
	uid     int
	log     *bytes.Buffer
	logMu   *sync.Mutex
}

func newWarnEnv(t *testing.T, limit int64, warnings []string, template string) *warnEnv {
	t.Helper()
	uid := os.Geteuid()
	base := t.TempDir()
	if uid == 0 {
		uid = 1001                          // as root, deliveries switch to the mailbox owner
		os.Chmod(filepath.Dir(base), 0o755) // t.TempDir makes both 0700
		os.Chmod(base, 0o755)
		home := filepath.Join(base, "u")
		if err := os.Mkdir(home, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(home, uid, uid); err != nil {
			t.Fatal(err)
		}
	}
	cfg := config.Defaults()
	cfg.Hostname = "mx.example.org"
	cfg.Mail.MinUID = 1
	cfg.Quota.Warning = warnings
	if template != "" {
		p := filepath.Join(t.TempDir(), "warning.txt")
		if err := os.WriteFile(p, []byte(template), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg.Quota.WarningMessage = p
		var err error
		if cfg, err = config.Parse([]byte(cfg.Effective()), "test"); err != nil {
			t.Fatal(err)
		}
	}
	u := &lookup.User{Address: "u@x", Home: filepath.Join(base, "u"), UID: int64(uid), GID: int64(uid),
		QuotaBytes: limit, QuotaMessages: -1}
	db := fakeDB{"u@x": u, "alias@x": u} // alias@x: what an alias_query resolves to u@x
	var buf bytes.Buffer
	mu := &sync.Mutex{}
	log := slog.New(slog.NewTextHandler(lockedWriter{&buf, mu}, nil))
	return &warnEnv{t: t, agent: NewAgent(cfg, db, log), maildir: filepath.Join(base, "u", "Maildir"), uid: uid, log: &buf, logMu: mu}
}

type lockedWriter struct {
	b  *bytes.Buffer
	mu *sync.Mutex
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// deliver delivers a message with a body of size bytes to u@x.
func (e *warnEnv) deliver(size int) error { return e.deliverTo("u@x", size) }

func (e *warnEnv) deliverTo(rcpt string, size int) error {
	tg, err := e.agent.Resolve(context.Background(), rcpt, "")
	if err != nil {
		return err
	}
	msg, err := message.ReadStream(strings.NewReader("Subject: m\n\n" + strings.Repeat("x", size-1) + "\n"))
	if err != nil {
		return err
	}
	_, err = e.agent.Deliver(context.Background(), tg, Request{ID: NewID(), Sender: "s@y"}, msg)
	return err
}

// warnings returns the contents of the warning messages in new/.
func (e *warnEnv) warnings() []string {
	e.t.Helper()
	ents, err := os.ReadDir(filepath.Join(e.maildir, "new"))
	if err != nil {
		e.t.Fatal(err)
	}
	var ws []string
	for _, ent := range ents {
		p := filepath.Join(e.maildir, "new", ent.Name())
		b, err := os.ReadFile(p)
		if err != nil {
			e.t.Fatal(err)
		}
		if bytes.Contains(b, []byte("\nAuto-Submitted: auto-generated\n")) {
			var st syscall.Stat_t
			if err := syscall.Stat(p, &st); err != nil || int(st.Uid) != e.uid {
				e.t.Errorf("warning %s owned by uid %d, want %d", ent.Name(), st.Uid, e.uid)
			}
			ws = append(ws, string(b))
		}
	}
	return ws
}

// 8 concurrent deliveries take the mailbox from 78% across 80%: exactly
// one warning lands in the INBOX, and maildirsize counts it.
func TestQuotaWarningConcurrentDeliveries(t *testing.T) {
	const limit = 100000
	e := newWarnEnv(t, limit, []string{"95%", "80%"}, "")
	if err := e.deliver(78000); err != nil {
		t.Fatal(err)
	}
	if ws := e.warnings(); len(ws) != 0 {
		t.Fatalf("warning before any threshold: %q", ws)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if err := e.deliver(1000); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	ws := e.warnings()
	if len(ws) != 1 {
		t.Fatalf("%d warnings, want 1:\n%s", len(ws), strings.Join(ws, "\n----\n"))
	}
	w := ws[0]
	for _, want := range []string{
		"Return-Path: <>\n", "Delivered-To: u@x\n", "From: Mail Delivery System <postmaster@x>\n",
		"To: <u@x>\n", "Subject: Your mailbox is 80% full\n", "\nDate: ", "\nMessage-ID: <",
		".quota-warning@mx.example.org>\n", "Content-Type: text/plain; charset=utf-8\n",
		"Your mailbox u@x has reached 80% of its quota:\n", " of 97.7 KiB are in use.\n",
	} {
		if !strings.Contains(w, want) {
			t.Errorf("warning lacks %q:\n%s", want, w)
		}
	}
	// Well formed: the header parses, its fields are the expected ones.
	h, _, err := message.Parse(strings.NewReader(w))
	if err != nil || h.MessageID == "" {
		t.Errorf("warning does not parse as a message: %v (%+v)", err, h)
	}
	// One more delivery, still over 80%: no second warning.
	if err := e.deliver(1000); err != nil {
		t.Fatal(err)
	}
	if ws := e.warnings(); len(ws) != 1 {
		t.Errorf("%d warnings after a delivery above the threshold, want still 1", len(ws))
	}
	// maildirsize counts every file, the warning too.
	root, err := os.Open(e.maildir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	fromFile, err := quota.Get(root, quota.Limit{})
	if err != nil {
		t.Fatal(err)
	}
	recount, err := quota.Recalculate(root, quota.Limit{Bytes: limit})
	if err != nil {
		t.Fatal(err)
	}
	if fromFile != recount || recount.Messages != 11 {
		t.Errorf("maildirsize %+v, recount %+v (want 11 messages)", fromFile, recount)
	}
	e.logMu.Lock()
	defer e.logMu.Unlock()
	if n := strings.Count(e.log.String(), `msg="quota warning"`); n != 1 {
		t.Errorf("%d quota warning log lines, want 1:\n%s", n, e.log)
	}
}

func TestQuotaWarningTemplate(t *testing.T) {
	tmpl := "From: Postmaster <postmaster@%d>\nSubject: Quota: %{percent}% von %{resource} — %n\nX-Site: test\n\n" +
		"%u hat %{usage} von %{limit} belegt (100%% = voll).\n"
	e := newWarnEnv(t, 10000, []string{"messages=90%", "storage=50%"}, tmpl)
	if err := e.deliver(6000); err != nil {
		t.Fatal(err)
	}
	ws := e.warnings()
	if len(ws) != 1 {
		t.Fatalf("%d warnings, want 1", len(ws))
	}
	w := ws[0]
	for _, want := range []string{
		"From: Postmaster <postmaster@x>\n", "Subject: =?utf-8?q?Quota:_50%_von_storage_=E2=80=94_u?=\n",
		"X-Site: test\n", "u@x hat 5.9 KiB von 9.8 KiB belegt (100% = voll).\n", "To: <u@x>\n",
	} {
		if !strings.Contains(w, want) {
			t.Errorf("warning lacks %q:\n%s", want, w)
		}
	}
	if strings.Count(w, "From: ") != 1 || strings.Count(w, "Subject: ") != 1 {
		t.Errorf("template's From/Subject not the only ones:\n%s", w)
	}
}

// A warning message is never refused by the quota it warns about, and
// never warns itself; an unlimited mailbox has no thresholds.
func TestQuotaWarningNone(t *testing.T) {
	e := newWarnEnv(t, 0, []string{"1%"}, "")
	if err := e.deliver(5000); err != nil {
		t.Fatal(err)
	}
	if ws := e.warnings(); len(ws) != 0 {
		t.Errorf("unlimited mailbox warned: %q", ws)
	}
	e = newWarnEnv(t, 10000, nil, "")
	if err := e.deliver(9000); err != nil {
		t.Fatal(err)
	}
	if ws := e.warnings(); len(ws) != 0 {
		t.Errorf("no thresholds, yet warned: %q", ws)
	}
}

func TestAmount(t *testing.T) {
	for n, want := range map[int64]string{0: "0 bytes", 1023: "1023 bytes", 1024: "1 KiB", 1536: "1.5 KiB",
		1 << 30: "1 GiB", 859832320: "820 MiB"} {
		if got := amount("storage", n); got != want {
			t.Errorf("amount(%d) = %q, want %q", n, got, want)
		}
	}
	if got := amount("messages", 1); got != "1 message" {
		t.Errorf("amount(messages, 1) = %q", got)
	}
	_ = time.Now
}

// Mail to an alias that crosses warns the user: To and Delivered-To name
// the user's own address.
func TestQuotaWarningThroughAlias(t *testing.T) {
	e := newWarnEnv(t, 10000, []string{"50%"}, "")
	if err := e.deliverTo("alias@x", 6000); err != nil {
		t.Fatal(err)
	}
	ws := e.warnings()
	if len(ws) != 1 || !strings.Contains(ws[0], "Delivered-To: u@x\n") || !strings.Contains(ws[0], "To: <u@x>\n") {
		t.Fatalf("warnings: %q", ws)
	}
}

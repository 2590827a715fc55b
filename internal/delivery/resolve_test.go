package delivery

import (
	"context"
	"errors"
	"strings"
	"testing"

	"maildeliver/internal/config"
	"maildeliver/internal/lookup"
	"maildeliver/internal/maildir"
	"maildeliver/internal/status"
)

// fakeDB is a map userdb: the lookup itself is tested against real
// databases in package lookup and through the binaries; here only the
// pipeline's decisions on a row are.
type fakeDB map[string]*lookup.User

func (f fakeDB) Lookup(_ context.Context, a string) (*lookup.User, error) {
	if a == "down@x" {
		return nil, errors.New("connection refused to db.internal:5432")
	}
	if u, ok := f[a]; ok {
		c := *u
		return &c, nil
	}
	return nil, lookup.ErrNotFound
}

func (fakeDB) Close() error { return nil }

func user(addr, home string, uid int64) *lookup.User {
	return &lookup.User{Address: addr, Home: home, UID: uid, GID: uid, QuotaBytes: -1, QuotaMessages: -1}
}

func TestResolve(t *testing.T) {
	cfg := config.Defaults()
	cfg.Mail.Location = "maildir:~/Maildir"
	db := fakeDB{
		"a@x":      user("a@x", "/home/x/a", 1001),
		"det@x":    &lookup.User{Address: "det@x", Home: "/home/x/det", UID: 1001, GID: 1001, Detail: "Lists", QuotaBytes: -1, QuotaMessages: -1},
		"bad@x":    &lookup.User{Address: "bad@x", Home: "/home/x/bad", UID: 1001, GID: 1001, Detail: "../../etc", QuotaBytes: -1, QuotaMessages: -1},
		"root@x":   user("root@x", "/root", 0),
		"low@x":    user("low@x", "/home/low", 10),
		"rel@x":    user("rel@x", "relative/home", 1001),
		"dots@x":   user("dots@x", "/home/../etc", 1001),
		"nohome@x": user("nohome@x", "", 1001),
		"mail@x":   &lookup.User{Address: "mail@x", Mail: "maildir:/var/mail/m:LAYOUT=fs:INBOX=/var/mail/inbox/m", UID: 1001, GID: 1001, QuotaBytes: -1, QuotaMessages: -1},
		"badloc@x": &lookup.User{Address: "badloc@x", Mail: "maildir:/var/mail/m:MAILBOXDIR=x", UID: 1001, GID: 1001, QuotaBytes: -1, QuotaMessages: -1},
		"noid@x":   &lookup.User{Address: "noid@x", Home: "/home/noid", UID: lookup.NoID, GID: lookup.NoID, QuotaBytes: -1, QuotaMessages: -1},
		"quota@x":  &lookup.User{Address: "quota@x", Home: "/home/q", UID: 1001, GID: 1001, QuotaRule: "*:storage=1M", QuotaBytes: -1, QuotaMessages: -1},
		"badq@x":   &lookup.User{Address: "badq@x", Home: "/home/q", UID: 1001, GID: 1001, QuotaRule: "*:storage=lots", QuotaBytes: -1, QuotaMessages: -1},
	}
	a := NewAgent(cfg, db, nil)
	for _, tc := range []struct {
		rcpt, folder string
		maildir      string
		folderDir    string
		enh          string // expected failure, "" = success
	}{
		{rcpt: "a@x", maildir: "/home/x/a/Maildir"},
		{rcpt: "a@x", folder: "Archive", maildir: "/home/x/a/Maildir", folderDir: ".Archive"},
		{rcpt: "a@x", folder: "a/b", maildir: "/home/x/a/Maildir"},
		{rcpt: "a@x", folder: "a.b", maildir: "/home/x/a/Maildir", folderDir: ".a.b"},
		{rcpt: "a@x", folder: "a//b", maildir: "/home/x/a/Maildir"},
		{rcpt: "A@X", maildir: "/home/x/a/Maildir"}, // username_format %Lu
		{rcpt: "badloc@x", enh: "4.3.0"},
		{rcpt: "det@x", maildir: "/home/x/det/Maildir", folderDir: ".Lists"},
		{rcpt: "det@x", folder: "Other", maildir: "/home/x/det/Maildir", folderDir: ".Other"},
		{rcpt: "bad@x", maildir: "/home/x/bad/Maildir"},
		{rcpt: "mail@x", maildir: "/var/mail/m"},
		{rcpt: "quota@x", maildir: "/home/q/Maildir"},
		{rcpt: "nobody@x", enh: "5.1.1"},
		{rcpt: "down@x", enh: "4.3.0"},
		{rcpt: "root@x", enh: "4.3.0"},
		{rcpt: "low@x", enh: "4.3.0"},
		{rcpt: "rel@x", enh: "4.3.0"},
		{rcpt: "dots@x", enh: "4.3.0"},
		{rcpt: "nohome@x", enh: "4.3.0"},
		{rcpt: "noid@x", enh: "4.3.0"}, // no uid from the row, [mail] uid unset
		{rcpt: "badq@x", enh: "4.3.0"},
		{rcpt: "a@x\r\nX: y", enh: "5.1.3"},
		{rcpt: "", enh: "5.1.3"},
		{rcpt: strings.Repeat("a", 300) + "@x", enh: "5.1.3"},
	} {
		t.Run(tc.rcpt+"/"+tc.folder, func(t *testing.T) {
			tg, err := a.Resolve(context.Background(), tc.rcpt, tc.folder)
			if tc.enh != "" {
				st := status.From(err)
				if st == nil || string(st.Enhanced) != tc.enh {
					t.Fatalf("err = %v, want %s", err, tc.enh)
				}
				if strings.Contains(st.Reason, "db.internal") {
					t.Errorf("internal detail in public reason %q", st.Reason)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tg.Maildir != tc.maildir || tg.FolderDir != tc.folderDir || tg.UID != 1001 {
				t.Errorf("got maildir %q folder %q uid %d", tg.Maildir, tg.FolderDir, tg.UID)
			}
		})
	}
	// The mail column's LAYOUT=fs and INBOX= reach the quota recount.
	if tg, err := a.Resolve(context.Background(), "mail@x", ""); err != nil || tg.Quota.Layout != maildir.FS || tg.Quota.Inbox != "/var/mail/inbox/m" {
		t.Errorf("mail@x: layout %v inbox %q, %v", tg.Quota.Layout, tg.Quota.Inbox, err)
	}
	// A static uid from [mail] when the row has none.
	cfg2 := *cfg
	cfg2.Mail.UID, cfg2.Mail.GID = 5000, 5000
	tg, err := NewAgent(&cfg2, db, nil).Resolve(context.Background(), "noid@x", "")
	if err != nil || tg.UID != 5000 || tg.GID != 5000 {
		t.Fatalf("static uid: %+v, %v", tg, err)
	}
	// allowed_roots
	cfg3 := *cfg
	cfg3.Mail.AllowedRoots = []string{"/home/x"}
	if _, err := NewAgent(&cfg3, db, nil).Resolve(context.Background(), "mail@x", ""); status.From(err) == nil {
		t.Fatal("maildir outside allowed_roots accepted")
	}
	if _, err := NewAgent(&cfg3, db, nil).Resolve(context.Background(), "a@x", ""); err != nil {
		t.Fatal(err)
	}
}

func TestMailbox(t *testing.T) {
	u := &lookup.User{Address: "bob@example.org", Home: "/home/e/bob"}
	a := NewAgent(config.Defaults(), fakeDB{}, nil)
	for loc, want := range map[string]string{
		"maildir:/var/vmail/%d/%n/Maildir":            "/var/vmail/example.org/bob/Maildir",
		"maildir:/var/spool/vmail/%u":                 "/var/spool/vmail/bob@example.org",
		"maildir:~/Maildir":                           "/home/e/bob/Maildir",
		"maildir:%h/mail":                             "/home/e/bob/mail",
		"maildir:/v/%{user|domain}/%{user|username}":  "/v/example.org/bob",
		"maildir:/v/%{domain}/%{username}/%{user}/%%": "/v/example.org/bob/bob@example.org/%",
		"/bare/%n": "/bare/bob",
	} {
		u.Mail = loc
		got, err := a.mailbox(u)
		if err != nil || got.Root != want {
			t.Errorf("mailbox(%q) = %q, %v; want %q", loc, got.Root, err, want)
		}
	}
	for _, loc := range []string{"maildir:/v/%x", "maildir:/v/%{nope}", "maildir:/v/%", "maildir:/v/%{user",
		"maildir:/v/%n:FOO=1", "mbox:/v/%n", "maildir:v/%n"} {
		u.Mail = loc
		if _, err := a.mailbox(u); err == nil {
			t.Errorf("mailbox(%q) accepted", loc)
		}
	}
	evil := &lookup.User{Address: "../..@x", Mail: "maildir:/v/%n"}
	if _, err := a.mailbox(evil); err == nil {
		t.Error("a local part '../..' became a path component")
	}
	u.Mail = "maildir:/v/%n:LAYOUT=fs:INBOX=/var/mail/%n:CONTROL=~/ctl:UTF-8:INDEX=MEMORY"
	m, err := a.mailbox(u)
	if err != nil || m.Inbox != "/var/mail/bob" || m.Subscriptions.Dir != "/home/e/bob/ctl" ||
		m.Naming.Layout != maildir.FS || !m.Naming.UTF8 {
		t.Errorf("options: %+v, %v", m, err)
	}
}

// username_format folds the address once, before the lookup; the detail
// keeps the case it was written in (Dovecot's LMTP splits it off first).
func TestCanonical(t *testing.T) {
	db := fakeDB{
		"alice@example.com": &lookup.User{Address: "alice@example.com", Home: "/h/alice", UID: 1001, GID: 1001,
			QuotaBytes: -1, QuotaMessages: -1},
		"alice+lists@example.com": &lookup.User{Address: "alice@example.com", Home: "/h/alice", UID: 1001, GID: 1001,
			Detail: "lists", QuotaBytes: -1, QuotaMessages: -1},
	}
	cfg := config.Defaults()
	cfg.Mail.Location = "maildir:/m/%d/%n"
	a := NewAgent(cfg, db, nil)
	tg, err := a.Resolve(context.Background(), "Alice@Example.COM", "")
	if err != nil || tg.Maildir != "/m/example.com/alice" || tg.Recipient != "alice@example.com" {
		t.Fatalf("mixed case: %+v, %v", tg, err)
	}
	tg, err = a.Resolve(context.Background(), "Alice+Lists@Example.COM", "")
	if err != nil || tg.Folder != "Lists" || tg.FolderDir != ".Lists" {
		t.Fatalf("detail: %+v, %v", tg, err)
	}
	cfg2 := *cfg
	cfg2.Userdb.UsernameFormat = ""
	if _, err := NewAgent(&cfg2, db, nil).Resolve(context.Background(), "Alice@Example.COM", ""); status.From(err).Enhanced != "5.1.1" {
		t.Fatalf("username_format \"\" must keep the case: %v", err)
	}
	cfg3 := *cfg
	cfg3.Userdb.UsernameFormat = "%Ln"
	cfg3.Mail.Location = "maildir:/m/%u"
	db["alice"] = &lookup.User{Address: "alice", Home: "/h/alice", UID: 1001, GID: 1001, QuotaBytes: -1, QuotaMessages: -1}
	if tg, err := NewAgent(&cfg3, db, nil).Resolve(context.Background(), "Alice@Example.COM", ""); err != nil || tg.Maildir != "/m/alice" {
		t.Fatalf("%%Ln: %+v, %v", tg, err)
	}
	cfg4 := *cfg
	cfg4.Mail.Location = "maildir:/m/%Lq"
	if _, err := NewAgent(&cfg4, db, nil).Resolve(context.Background(), "alice@example.com", ""); status.From(err).Enhanced != "4.3.0" {
		t.Fatalf("an unvalidated bad location must defer: %v", err)
	}
}

func TestPrefix(t *testing.T) {
	a := NewAgent(config.Defaults(), fakeDB{}, nil)
	tg := &Target{Recipient: "bob@x"}
	got := a.prefix(tg, Request{Sender: "", OrigRecipient: "alias@x", Received: "Received: by h\n"})
	want := "Return-Path: <>\nDelivered-To: bob@x\nX-Original-To: alias@x\nReceived: by h\n"
	if got != want {
		t.Errorf("prefix = %q, want %q", got, want)
	}
	if got := a.prefix(tg, Request{Sender: "s@y", OrigRecipient: "BOB@x"}); got != "Return-Path: <s@y>\nDelivered-To: bob@x\n" {
		t.Errorf("prefix = %q", got)
	}
}

// TestSeparator: [mail] separator is Dovecot's namespace separator; it
// splits the requested folder into levels, the layout joins them on disk
// (seed 002: LAYOUT=fs with separator '.' stores a.b as a/b).
func TestSeparator(t *testing.T) {
	db := fakeDB{"a@x": user("a@x", "/home/x/a", 1001)}
	for _, tc := range []struct {
		loc, sep, folder, dir string
	}{
		{"maildir:~/Maildir:LAYOUT=fs", "", "a.b", "a.b"},
		{"maildir:~/Maildir:LAYOUT=fs", ".", "a.b", "a/b"},
		{"maildir:~/Maildir:LAYOUT=fs", ".", "a/b", ""}, // refused: INBOX
		{"maildir:~/Maildir", "/", "a/b", ".a.b"},
		{"maildir:~/Maildir", "/", "a.b", ""},
		{"maildir:~/Maildir", "", "a.b", ".a.b"},
	} {
		cfg := config.Defaults()
		cfg.Mail.Location, cfg.Mail.Separator = tc.loc, tc.sep
		tg, err := NewAgent(cfg, db, nil).Resolve(context.Background(), "a@x", tc.folder)
		if err != nil || tg.FolderDir != tc.dir {
			t.Errorf("%s separator %q folder %q: dir %q (%v), want %q", tc.loc, tc.sep, tc.folder, tg.FolderDir, err, tc.dir)
		}
	}
}

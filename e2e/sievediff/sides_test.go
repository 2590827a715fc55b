package sievediff

// The three delivering sides of the differential test and the private
// Dovecot behind the first: how each is configured, run and read back.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"maildeliver/internal/smtpsink"
	"maildeliver/internal/testdb"
)

// rig is everything the cases share: the temp tree, the userdb, the
// built binaries, Dovecot's master (for the userdb lookups of
// dovecot-lda) and one SMTP sink per side. The sides read the same
// userdb rows; each side's user_query puts the home below its own
// directory ("<home>.<side>"), so that the three run side by side.
type rig struct {
	dir                string // world-traversable root of everything
	uid, gid           int    // the mailbox owner of every user
	deliver, lmtpd     string
	sinks              map[string]*smtpsink.Sink
	conf               map[string]map[string]string // side → globals combination → config file
	lmtpdSock          map[string]string            // globals combination → lmtpd's socket
	homes              map[string]string            // user → home as the userdb has it
	dcLog, ourLog      string
	corpus, globalDir  string
	personal, messages string
	ourBase            map[string]string // side → the TOML all combinations share
}

// home is user's home on side.
func (r *rig) home(side, user string) string { return r.homes[user] + "." + side }

const dovecotLDA = "/usr/lib/dovecot/dovecot-lda"

// users of the userdb: the envelopes' recipients, canonical.
var users = []string{"bob@example.com", "frank@example.org"}

func newRig(t *testing.T) *rig {
	t.Helper()
	dir, err := os.MkdirTemp("", "md-sievediff.")
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("SIEVEDIFF_KEEP") == "" {
		t.Cleanup(func() { os.RemoveAll(dir) })
	} else {
		t.Logf("tree kept in %s", dir)
	}
	r := &rig{dir: dir, uid: 1001, gid: 1001, homes: map[string]string{}, sinks: map[string]*smtpsink.Sink{},
		conf: map[string]map[string]string{}, lmtpdSock: map[string]string{}, ourBase: map[string]string{}}
	for _, side := range sides {
		r.conf[side] = map[string]string{}
	}
	for _, sub := range []string{"", "bin", "home", "dovecot", "dovecot/run", "dovecot/state", "ours", "corpus"} {
		mkdir(t, filepath.Join(dir, sub), 0o755)
	}
	r.build(t)
	r.copyCorpus(t)

	db := testdb.SQLite(t, dir)
	db.Exec(t, "CREATE TABLE users (userid TEXT PRIMARY KEY, home TEXT, uid INTEGER, gid INTEGER)")
	for _, u := range users {
		home := filepath.Join(dir, "home", strings.SplitN(u, "@", 2)[0])
		r.homes[u] = home
		db.Exec(t, fmt.Sprintf("INSERT INTO users VALUES ('%s', '%s', %d, %d)", u, home, r.uid, r.gid))
	}
	os.Chmod(db.Connect, 0o644)

	var addr string
	r.sinks["pigeonhole"], addr = smtpsink.Start(t)
	r.startDovecot(t, db.Connect, addr)
	r.ourLog = filepath.Join(dir, "ours", "maildeliver.log")
	writeFile(t, r.ourLog, "", 0o666)
	for _, side := range sides[1:] {
		r.sinks[side], addr = smtpsink.Start(t)
		r.ourBase[side] = fmt.Sprintf(`hostname = "mx.test.example"
[log]
target = "file:%s"
[userdb]
driver = "sqlite"
connect = %q
user_query = "SELECT home || '.%s' AS home, uid, gid FROM users WHERE userid = '%%u'"
[mail]
location = "maildir:~/Maildir"
[lmtp]
socket_group = ""
socket_mode = "0666"
[sieve]
enabled = true
global = %q
submission_host = %q
postmaster_address = "postmaster@example.com"
`, r.ourLog, db.Connect, side, r.globalDir, addr)
	}
	return r
}

// build compiles deliver and lmtpd as scripts/build.sh ships them
// (static), without the race detector: they are the programs under test.
func (r *rig) build(t *testing.T) {
	t.Helper()
	r.deliver = filepath.Join(r.dir, "bin", "deliver")
	r.lmtpd = filepath.Join(r.dir, "bin", "lmtpd")
	for bin, pkg := range map[string]string{r.deliver: "maildeliver/cmd/deliver", r.lmtpd: "maildeliver/cmd/lmtpd"} {
		cmd := exec.Command("go", "build", "-o", bin, pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("building %s: %v\n%s", pkg, err, out)
		}
	}
}

// corpusDir is the shared Sieve corpus (the sieve-test differential's).
const corpusDir = "../../internal/sieve/testdata/diff"

func (r *rig) copyCorpus(t *testing.T) {
	t.Helper()
	r.corpus = filepath.Join(r.dir, "corpus")
	for _, sub := range []string{"scripts", "personal", "messages", "global"} {
		// Pigeonhole writes compiled .svbin files beside the global
		// scripts when it may; that it may not is only a log line, but
		// it is noise in the log read on a failure.
		mkdir(t, filepath.Join(r.corpus, sub), 0o777)
		ents, err := os.ReadDir(filepath.Join(corpusDir, sub))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join(corpusDir, sub, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(r.corpus, sub, e.Name()), string(b), 0o644)
		}
	}
	r.globalDir = filepath.Join(r.corpus, "global")
	r.personal = filepath.Join(r.corpus, "personal")
	r.messages = filepath.Join(r.corpus, "messages")
}

// startDovecot starts a private Dovecot master (its own base_dir, only
// the auth service: dovecot-lda asks it for the userdb row), on the same
// SQLite userdb as ours. Pigeonhole's settings are its defaults except
// the two extensions SPEC lists that Pigeonhole keeps off by default.
func (r *rig) startDovecot(t *testing.T, db, sink string) {
	t.Helper()
	d := filepath.Join(r.dir, "dovecot")
	r.dcLog = filepath.Join(d, "lda.log")
	writeFile(t, r.dcLog, "", 0o666) // dovecot-lda logs as the mailbox uid
	writeFile(t, filepath.Join(d, "sql.conf"), fmt.Sprintf(`driver = sqlite
connect = %s
user_query = SELECT home || '.pigeonhole' AS home, uid, gid FROM users WHERE userid = '%%u'
`, db), 0o644)
	base := fmt.Sprintf(`instance_name = md-sievediff-%[2]s
base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/master.log
protocols =
ssl = no
first_valid_uid = 1000
mail_location = maildir:~/Maildir
recipient_delimiter = +
# as maildeliver's defaults [mail] autocreate and autosubscribe
lda_mailbox_autocreate = yes
lda_mailbox_autosubscribe = yes
hostname = mx.test.example
postmaster_address = postmaster@example.com
submission_host = %[3]s
passdb {
  driver = static
  args = nopassword=y
}
userdb {
  driver = sql
  args = %[1]s/sql.conf
}
service auth {
  unix_listener auth-userdb {
    mode = 0666
  }
}
protocol lda {
  mail_plugins = $mail_plugins sieve
}
plugin {
  sieve = file:~/sieve;active=~/.dovecot.sieve
  sieve_global = %[4]s
  sieve_extensions = +vacation-seconds +editheader
}
`, d, filepath.Base(r.dir), sink, r.globalDir)
	conf := filepath.Join(d, "dovecot.conf")
	writeFile(t, conf, base, 0o644)
	var out bytes.Buffer
	done := startProc(t, &out, "dovecot", "-F", "-c", conf)
	sock := filepath.Join(d, "run", "auth-userdb")
	for deadline := time.Now().Add(20 * time.Second); ; {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		select {
		case <-done:
			log, _ := os.ReadFile(filepath.Join(d, "master.log"))
			t.Fatalf("dovecot exited\n%s%s", out.String(), log)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("dovecot: no %s after 20s\n%s", sock, out.String())
		}
	}
}

// globals is one combination of global scripts (sieve_before/after).
type globals struct{ before, after []string }

func (g globals) key() string {
	return strings.Join(g.before, ",") + "|" + strings.Join(g.after, ",")
}

// configs writes (once per combination) dovecot-lda's and maildeliver's
// configuration with these global scripts, and starts an lmtpd with it.
func (r *rig) configs(t *testing.T, g globals) string {
	t.Helper()
	k := g.key()
	if _, ok := r.conf["pigeonhole"][k]; ok {
		return k
	}
	n := len(r.conf["pigeonhole"])
	var dc strings.Builder
	fmt.Fprintf(&dc, "!include %s\nlog_path = %s\nplugin {\n", filepath.Join(r.dir, "dovecot", "dovecot.conf"), r.dcLog)
	var before, after []string
	for i, b := range g.before {
		fmt.Fprintf(&dc, "  sieve_before%s = %s\n", nth(i), filepath.Join(r.globalDir, b+".sieve"))
		before = append(before, fmt.Sprintf("%q", filepath.Join(r.globalDir, b+".sieve")))
	}
	for i, a := range g.after {
		fmt.Fprintf(&dc, "  sieve_after%s = %s\n", nth(i), filepath.Join(r.globalDir, a+".sieve"))
		after = append(after, fmt.Sprintf("%q", filepath.Join(r.globalDir, a+".sieve")))
	}
	dc.WriteString("}\n")
	r.conf["pigeonhole"][k] = filepath.Join(r.dir, "dovecot", fmt.Sprintf("lda-%d.conf", n))
	writeFile(t, r.conf["pigeonhole"][k], dc.String(), 0o644)

	sock := filepath.Join(r.dir, "ours", fmt.Sprintf("lmtpd-%d.sock", n))
	for _, side := range sides[1:] {
		conf := fmt.Sprintf("%sbefore = [%s]\nafter = [%s]\n", r.ourBase[side], strings.Join(before, ", "), strings.Join(after, ", "))
		conf = strings.Replace(conf, "[lmtp]\n", fmt.Sprintf("[lmtp]\nlisten = [\"unix:%s\"]\n", sock), 1)
		r.conf[side][k] = filepath.Join(r.dir, "ours", fmt.Sprintf("%s-%d.toml", side, n))
		writeFile(t, r.conf[side][k], conf, 0o644)
	}
	r.lmtpdSock[k] = sock
	r.startLmtpd(t, r.conf["lmtpd"][k], sock)
	return k
}

// nth is Pigeonhole's numbering of repeated settings: sieve_before,
// sieve_before2, ...
func nth(i int) string {
	if i == 0 {
		return ""
	}
	return fmt.Sprint(i + 1)
}

func (r *rig) startLmtpd(t *testing.T, conf, sock string) {
	t.Helper()
	var out bytes.Buffer
	done := startProc(t, &out, r.lmtpd, "-c", conf)
	for deadline := time.Now().Add(20 * time.Second); ; {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			return
		}
		select {
		case <-done:
			t.Fatalf("lmtpd exited\n%s", out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("lmtpd: no socket %s after 20s\n%s", sock, out.String())
		}
	}
}

// freshHomes gives every user an empty home holding the case's script
// as ManageSieve leaves it: ~/sieve/<name> with ~/.dovecot.sieve a
// symlink to it, and the personal scripts include :personal reads.
func (r *rig) freshHomes(t *testing.T, side, script string) {
	t.Helper()
	for _, u := range users {
		home := r.home(side, u)
		if err := os.RemoveAll(home); err != nil {
			t.Fatal(err)
		}
		sdir := filepath.Join(home, "sieve")
		for _, d := range []string{home, sdir} {
			mkdir(t, d, 0o700)
			if err := os.Chown(d, r.uid, r.gid); err != nil {
				t.Fatal(err)
			}
		}
		ents, _ := os.ReadDir(r.personal)
		for _, e := range ents {
			copyOwned(t, filepath.Join(r.personal, e.Name()), filepath.Join(sdir, e.Name()), r.uid, r.gid)
		}
		name := filepath.Base(script)
		copyOwned(t, script, filepath.Join(sdir, name), r.uid, r.gid)
		link := filepath.Join(home, ".dovecot.sieve")
		if err := os.Symlink(filepath.Join("sieve", name), link); err != nil {
			t.Fatal(err)
		}
		os.Lchown(link, r.uid, r.gid)
	}
}

// outcome of one delivery: "ok", "reject <reason>", or what else the
// side answered.
func (r *rig) runDovecot(t *testing.T, k string, e envelope) string {
	t.Helper()
	// As a pipe(8) service would run it: -d the user (the detail is not
	// part of it), -r the final recipient and -a the original one (what
	// Sieve's envelope "to" and vacation's own-address rule see; -a is
	// also the final one when -r is not given), -m the +detail folder
	// (as our [mail] detail_folder does by itself).
	user, domain, _ := strings.Cut(e.to, "@")
	user, detail, _ := strings.Cut(user, "+")
	orig := e.orig
	if orig == "" {
		orig = e.to
	}
	args := []string{"-c", r.conf["pigeonhole"][k], "-e", "-f", e.from, "-d", user + "@" + domain, "-r", e.to, "-a", orig}
	if detail != "" {
		args = append(args, "-m", detail)
	}
	code, out := run(t, dovecotLDA, r.piped(e), args...)
	switch code {
	case 0:
		return "ok"
	case 77: // EX_NOPERM: the reason on stderr
		return "reject " + strings.TrimSpace(out)
	}
	return fmt.Sprintf("exit %d: %s", code, strings.TrimSpace(out))
}

func (r *rig) runDeliver(t *testing.T, k string, e envelope) string {
	t.Helper()
	args := []string{"-c", r.conf["deliver"][k], "-f", e.from, "-d", e.to}
	if e.orig != "" {
		args = append(args, "-a", e.orig)
	}
	code, out := run(t, r.deliver, filepath.Join(r.messages, e.msg), args...)
	switch code {
	case 0:
		return "ok"
	case 77:
		return "reject " + strings.TrimPrefix(strings.TrimSpace(out), "5.7.1 ")
	}
	return fmt.Sprintf("exit %d: %s", code, strings.TrimSpace(out))
}

// piped is the message dovecot-lda reads for e. For the null sender it
// starts with "Return-Path: <>", as Postfix's pipe(8) with flag R (the
// master.cf line Dovecot documents) hands it over: dovecot-lda takes
// -f "" (and -f "<>") as no -f and the sender from the message's
// Return-Path (plain.eml's would be alice@example.org). Otherwise it is
// the corpus file, as deliver reads it (a prepended field would change
// what Sieve's size test sees on Pigeonhole's side only: we leave an
// incoming Return-Path out of the message the script sees).
func (r *rig) piped(e envelope) string {
	if e.from != "" {
		return filepath.Join(r.messages, e.msg)
	}
	return filepath.Join(r.dir, "piped", e.msg)
}

// writePiped writes piped(e) for the envelopes with the null sender.
func (r *rig) writePiped(t *testing.T, envs []envelope) {
	t.Helper()
	mkdir(t, filepath.Join(r.dir, "piped"), 0o755)
	for _, e := range envs {
		if e.from != "" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(r.messages, e.msg))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, r.piped(e), "Return-Path: <>\n"+string(b), 0o644)
	}
}

// runLmtpd sends the message over LMTP as Postfix does (ORCPT for the
// original recipient).
func (r *rig) runLmtpd(t *testing.T, k string, e envelope) string {
	t.Helper()
	msg, err := os.ReadFile(filepath.Join(r.messages, e.msg))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("unix", r.lmtpdSock[k])
	if err != nil {
		t.Fatal(err)
	}
	c := smtp.NewClientLMTP(conn)
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		return "LHLO: " + err.Error()
	}
	if err := c.Mail(e.from, nil); err != nil {
		return "MAIL: " + err.Error()
	}
	var opts *smtp.RcptOptions
	if e.orig != "" {
		opts = &smtp.RcptOptions{OriginalRecipientType: smtp.DSNAddressTypeRFC822, OriginalRecipient: e.orig}
	}
	if err := c.Rcpt(e.to, opts); err != nil {
		return lmtpOutcome(err)
	}
	w, err := c.Data()
	if err != nil {
		return "DATA: " + err.Error()
	}
	w.Write(bytes.ReplaceAll(bytes.ReplaceAll(msg, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n")))
	_, err = w.CloseWithLMTPResponse()
	c.Quit()
	var le smtp.LMTPDataError
	if errors.As(err, &le) {
		for _, e := range le {
			return lmtpOutcome(e)
		}
	}
	return lmtpOutcome(err)
}

// lmtpOutcome: 250 is "ok", 550 5.7.1 a reject, anything else as is.
func lmtpOutcome(err error) string {
	var se *smtp.SMTPError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &se) && se.Code == 550 && se.EnhancedCode == smtp.EnhancedCode{5, 7, 1}:
		// lmtpd's reply text is "<recipient> reason [delivery id]"
		return "reject " + reLmtpReply.ReplaceAllString(se.Message, "$1")
	case errors.As(err, &se):
		if se.Code == 250 {
			return "ok"
		}
		return fmt.Sprintf("%d %d.%d.%d %s", se.Code, se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2], se.Message)
	}
	return err.Error()
}

var reLmtpReply = regexp.MustCompile(`^<[^>]*> (.*) \[[0-9a-z]+\]$`)

// run runs bin with stdin from a file; its exit code and combined output.
func run(t *testing.T, bin, stdin string, args ...string) (int, string) {
	t.Helper()
	in, err := os.Open(stdin)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin = in
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &ee) && ee.ExitCode() >= 0:
		return ee.ExitCode(), string(out)
	}
	t.Fatalf("%s: %v\n%s", bin, err, out)
	return 0, ""
}

// startProc starts a server process, stopped (SIGINT, after 30s SIGKILL)
// when the test ends; the channel is closed when it has exited.
func startProc(t *testing.T, out *bytes.Buffer, bin string, args ...string) <-chan struct{} {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	return done
}

func mkdir(t *testing.T, p string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(p, mode); err != nil {
		t.Fatal(err)
	}
	os.Chmod(p, mode)
}

func writeFile(t *testing.T, p, s string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), mode); err != nil {
		t.Fatal(err)
	}
	os.Chmod(p, mode)
}

func copyOwned(t *testing.T, src, dst string, uid, gid int) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dst, string(b), 0o600)
	if err := os.Chown(dst, uid, gid); err != nil {
		t.Fatal(err)
	}
}

//go:build faults

package faults

import (
	"bufio"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"maildeliver/internal/testdb"
)

// commandTimeout is [lmtp] command_timeout in the hostile-input rows.
const commandTimeout = 2 * time.Second

// rssBudget is how far lmtpd's peak RSS may rise over its idle RSS under
// the long-header-line attack (issue 17 #7's budget) and the maildirsize
// and userdb socket traps.
const rssBudget = 40 << 10 // kB

// hostileBudget bounds the rise under any other hostile input: parsing
// 100k header fields alone takes 25-38 MB, depending on the GC's timing.
const hostileBudget = 64 << 10 // kB

// hostile is one lmtpd (PostgreSQL userdb) under attack by one row.
type hostile struct {
	r    *row
	e    *env
	d    *daemon
	idle int64 // VmRSS after start, kB
	// budget is how far the peak RSS may rise over idle, kB
	budget int64
}

// TestHostileLMTP: hostile LMTP input. Each row has an lmtpd of its own;
// after the attack it must still be alive and deliver, its peak RSS must
// stay within the row's budget over idle, and nothing may be outside a
// mailbox.
func TestHostileLMTP(t *testing.T) {
	for _, h := range []struct {
		name string
		fn   func(h *hostile)
	}{
		{"end-of-data smuggling (bare LF / bare CR)", smuggling},
		{"NUL bytes in header and body", nulBytes},
		{"1 MB header line (DATA)", longHeaderData},
		{"4 x 20 MB header line (BDAT, concurrent)", longHeaderBDAT},
		{"1 MB of folded header lines", foldedHeader},
		{"100k header lines", manyHeaderLines},
		{"10,000 RCPTs, pipelined", manyRcpts},
		{"quoted local parts with ../", dotDotRcpts},
		{"slowloris (one byte per second)", slowloris},
		{"more connections than max_connections", tooManyConns},
		{"BDAT with bogus sizes", bogusBDAT},
		{"header injection (ORCPT xtext CRLF, deliver -a/-f with LF)", headerInjection},
	} {
		runRow(t, "hostile LMTP", h.name, func(t *testing.T, r *row) {
			e := newEnv(t, testdb.Postgres(t))
			cfg := e.config("hostile", section{
				"userdb": `timeout = "5s"`,
				"lmtp":   fmt.Sprintf("max_connections = 8\ncommand_timeout = %q\ndata_timeout = \"10s\"\nmax_message_size = \"30M\"\nspool_memory = \"1M\"\ndsn = true", commandTimeout),
			})
			hs := &hostile{r: r, e: e, d: startLmtpd(t, cfg), budget: hostileBudget}
			hs.idle = hs.d.status("VmRSS")
			h.fn(hs)
			hs.after()
		})
	}
}

// after checks that lmtpd survived and still delivers, its RSS, and that
// nothing was written outside a mailbox.
func (h *hostile) after() {
	r := h.r
	if !h.d.alive() {
		r.fail("lmtpd died: %s", lastLines(h.d.stderr.String(), 3))
		return
	}
	peak := h.d.status("VmHWM")
	r.note("peak RSS %d MB (idle %d MB)", peak>>10, h.idle>>10)
	if peak-h.idle > h.budget {
		r.fail("peak RSS %d kB, %d kB over idle (budget %d kB)", peak, peak-h.idle, h.budget)
	}
	subj := subject("after", 500)
	rr, err := deliverLMTP(h.e.sock(), []string{"user@domain.org"}, testMessage(subj, 500), 20*time.Second)
	if err != nil || len(rr) != 1 || !strings.HasPrefix(rr[0].reply, "250 ") {
		r.fail("a normal delivery after the attack: %v %v", rr, err)
	}
	if out := outside(h.e); len(out) > 0 {
		r.fail("written outside a mailbox or as root: %v", out)
	}
}

// outside lists files under the env that are neither the suite's own nor
// in a Maildir, and files in a Maildir owned by root.
func outside(e *env) []string {
	var bad []string
	filepath.WalkDir(e.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == e.dir {
			return nil
		}
		rel, _ := filepath.Rel(e.dir, p)
		// Maildir.real: where the owner's swap loop keeps the real one
		inMaildir := strings.Contains(rel, "/Maildir/") || strings.HasSuffix(rel, "/Maildir") ||
			strings.Contains(rel, "/Maildir.real/") || strings.HasSuffix(rel, "/Maildir.real")
		if inMaildir {
			if fi, err := os.Lstat(p); err == nil && fi.Sys().(*syscall.Stat_t).Uid == 0 {
				bad = append(bad, rel+" (root)")
			}
			return nil
		}
		if d.IsDir() || !strings.HasPrefix(rel, "home/") {
			return nil // the suite's config, userdb, log, sockets
		}
		bad = append(bad, rel)
		return nil
	})
	return bad
}

// raw opens a connection and greets (LHLO).
func (h *hostile) raw() *lmtpClient {
	cl, g, err := dialLMTP(h.e.sock(), 20*time.Second)
	if err != nil {
		h.r.fail("connect: %q %v", g, err)
		return nil
	}
	if rp, err := cl.cmd("LHLO hostile.test"); err != nil || !strings.HasPrefix(rp, "250") {
		h.r.fail("LHLO: %q %v", rp, err)
	}
	return cl
}

// expect counts a reply and fails the row when it does not start with
// one of want.
func (h *hostile) expect(what, reply string, err error, want ...string) bool {
	for _, w := range want {
		if err == nil && strings.HasPrefix(reply, w) {
			label := strings.TrimSpace(w)
			if len(label) == 1 {
				label += "xx"
			}
			h.r.count(label, 1)
			return true
		}
	}
	h.r.count("wrong reply", 1)
	h.r.fail("%s: %q %v (want %v)", what, trunc(reply, 80), err, want)
	return false
}

func trunc(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// startData opens a connection, sends MAIL, RCPT rcpt, DATA.
func (h *hostile) startData(rcpt string) *lmtpClient {
	cl := h.raw()
	if cl == nil {
		return nil
	}
	cl.cmd("MAIL FROM:<sender@example.net>")
	if rp, err := cl.cmd("RCPT TO:<" + rcpt + ">"); err != nil || !strings.HasPrefix(rp, "250") {
		h.r.fail("RCPT %s: %q %v", rcpt, rp, err)
	}
	if rp, err := cl.cmd("DATA"); err != nil || !strings.HasPrefix(rp, "354") {
		h.r.fail("DATA: %q %v", rp, err)
	}
	return cl
}

// smuggling: a message whose body holds an end of data with bare LF or CR
// followed by a second transaction. Whatever lmtpd answers, the second
// transaction must never be delivered.
func smuggling(h *hostile) {
	for _, end := range []string{"\n.\n", "\r.\r", "\n.\r\n", "\r\n.\n", "\r\n.\r", "\r.\r\n"} {
		h.r.tries++
		cl := h.startData("user@domain.org")
		if cl == nil {
			return
		}
		smuggled := "MAIL FROM:<evil@example.net>\r\nRCPT TO:<user2@domain.org>\r\nDATA\r\nSubject: smuggled\r\n\r\nsmuggled\r\n.\r\n"
		cl.write("Subject: carrier\r\n\r\nbody" + end + smuggled)
		cl.deadline(10 * time.Second)
		var replies []string
		for {
			rp, err := cl.reply()
			if err != nil {
				break
			}
			replies = append(replies, trunc(rp, 40))
			if len(replies) == 5 {
				break
			}
		}
		cl.Close()
		h.r.count("tries", 1)
		if hasSubject(h.e.maildir("user2@domain.org"), "smuggled") {
			h.r.count("smuggled", 1)
			h.r.fail("%q: a smuggled message was delivered; replies %q", end, replies)
		}
	}
	h.r.mustZero("smuggled")
}

// hasSubject reports whether any file in dir/new has that Subject line.
func hasSubject(dir, subj string) bool {
	ents, _ := os.ReadDir(filepath.Join(dir, "new"))
	for _, en := range ents {
		b, _ := os.ReadFile(filepath.Join(dir, "new", en.Name()))
		if strings.Contains(string(b), "\nSubject: "+subj+"\n") {
			return true
		}
	}
	return false
}

// dataReply sends a message's raw bytes after DATA and its end, and reads
// the reply within limit.
func (h *hostile) dataReply(raw string, limit time.Duration) (string, time.Duration, error) {
	cl := h.startData("user@domain.org")
	if cl == nil {
		return "", 0, fmt.Errorf("no connection")
	}
	defer cl.Close()
	cl.deadline(limit)
	start := time.Now()
	go cl.write(raw + "\r\n.\r\n")
	rp, err := cl.reply()
	return rp, time.Since(start), err
}

func nulBytes(h *hostile) {
	h.r.tries = 1
	rp, _, err := h.dataReply("Subject: nul\x00here\r\nX-N: \x00\r\n\r\nbody \x00 with NUL\r\n", 20*time.Second)
	h.expect("NUL bytes", rp, err, "250 ", "5", "4")
}

func longHeaderData(h *hostile) {
	h.r.tries = 1
	rp, took, err := h.dataReply("X-Long: "+strings.Repeat("a", 1<<20)+"\r\nSubject: long\r\n\r\nbody\r\n", 20*time.Second)
	h.r.note("reply after %s", took.Round(time.Millisecond))
	// 64 KiB is lmtpd's line limit in DATA; past it a refusal is right
	h.expect("1 MB header line", rp, err, "250 ", "5", "4")
}

// foldedHeader: 1 MB of continuation lines (issue 17 #2, quadratic
// unfolding): the reply must come within 10 s.
func foldedHeader(h *hostile) {
	h.r.tries = 1
	rp, took, err := h.dataReply("X-Fold: x\r\n"+strings.Repeat("\tx\r\n", 1<<18)+"Subject: fold\r\n\r\nbody\r\n", 10*time.Second)
	h.r.note("reply after %s", took.Round(time.Millisecond))
	h.expect("1 MB folded header", rp, err, "250 ", "5")
}

func manyHeaderLines(h *hostile) {
	h.r.tries = 1
	var b strings.Builder
	for i := 0; i < 100000; i++ {
		fmt.Fprintf(&b, "X-H-%d: v\r\n", i)
	}
	rp, took, err := h.dataReply(b.String()+"Subject: many\r\n\r\nbody\r\n", 10*time.Second)
	h.r.note("reply after %s", took.Round(time.Millisecond))
	h.expect("100k header lines", rp, err, "250 ", "5")
}

// longHeaderBDAT: four connections each send one 20 MB header line in a
// BDAT chunk at the same time (issue 17 #7: the line must not be held
// whole in memory).
func longHeaderBDAT(h *hostile) {
	h.budget = rssBudget
	h.r.tries = 4
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := h.raw()
			if cl == nil {
				return
			}
			defer cl.Close()
			cl.deadline(60 * time.Second)
			cl.cmd("MAIL FROM:<sender@example.net>")
			cl.cmd("RCPT TO:<user@domain.org>")
			msg := "X-Long: " + strings.Repeat("b", 20<<20) + "\r\nSubject: bdat\r\n\r\nbody\r\n"
			go cl.write(fmt.Sprintf("BDAT %d LAST\r\n", len(msg)) + msg)
			rp, err := cl.reply()
			h.expect("BDAT 20 MB header line", rp, err, "250 ", "5")
		}()
	}
	wg.Wait()
}

// manyRcpts pipelines 10,000 RCPTs for one user: the first
// user_concurrency_limit (10, Dovecot 2.4's default) are accepted, the
// rest refused 451 4.3.0 (the user's limit; refused recipients do not
// count towards max_recipients, whose 452 4.5.3 protocol_test.go checks),
// each reply deliberate and memory bounded.
func manyRcpts(h *hostile) {
	h.r.tries = 10000
	cl := h.raw()
	if cl == nil {
		return
	}
	defer cl.Close()
	cl.deadline(120 * time.Second)
	cl.cmd("MAIL FROM:<sender@example.net>")
	go func() {
		w := bufio.NewWriterSize(cl.c, 64<<10)
		for i := 0; i < 10000; i++ {
			w.WriteString("RCPT TO:<user@domain.org>\r\n")
		}
		w.WriteString("RSET\r\n")
		w.Flush()
	}()
	for i := 0; i < 10000; i++ {
		rp, err := cl.reply()
		if err != nil {
			h.r.fail("RCPT %d: %v", i+1, err)
			return
		}
		switch {
		case i < 10 && strings.HasPrefix(rp, "250"):
			h.r.count("RCPT 250", 1)
		case i >= 10 && strings.HasPrefix(rp, "451 4.3.0") && strings.Contains(rp, "Too many concurrent deliveries"):
			h.r.count("RCPT 451 4.3.0 (user limit)", 1)
		default:
			h.r.count("wrong reply", 1)
			if h.r.get("wrong reply") <= 2 {
				h.r.fail("RCPT %d: %q", i+1, rp)
			}
		}
	}
	rp, err := cl.reply()
	h.expect("RSET", rp, err, "250")
}

// dotDotRcpts: addresses built to climb out of the mail tree are unknown
// users or syntax errors, never accepted; a ../ detail goes to INBOX.
func dotDotRcpts(h *hostile) {
	cl := h.raw()
	if cl == nil {
		return
	}
	defer cl.Close()
	cl.cmd("MAIL FROM:<sender@example.net>")
	for _, a := range []string{`"../../../etc/passwd"@domain.org`, `"../user"@domain.org`, `"user/../../x"@domain.org`,
		`"..\/..\/x"@domain.org`, `"user@domain.org/../../x"@domain.org`, `".."@domain.org`, `"user\"@x"@domain.org`, `"/etc/x"@domain.org`} {
		h.r.tries++
		rp, err := cl.cmd("RCPT TO:<" + a + ">")
		h.expect("RCPT "+a, rp, err, "550 5.1.1", "501", "553")
	}
	cl.cmd("RSET")
	cl.cmd("MAIL FROM:<sender@example.net>")
	h.r.tries++
	for _, a := range []string{"user+../../../x@domain.org", "user+..@domain.org", `"user+../x"@domain.org`} {
		h.r.tries++
		rp, err := cl.cmd("RCPT TO:<" + a + ">")
		h.expect("RCPT "+a, rp, err, "250", "550 5.1.1", "501", "553")
	}
	if rp, err := cl.cmd("DATA"); err == nil && strings.HasPrefix(rp, "354") {
		cl.write("Subject: dotdot-s0\r\n\r\n.\r\n")
		for {
			cl.deadline(10 * time.Second)
			rp, err := cl.reply()
			if err != nil || !strings.HasPrefix(rp, "250") {
				break
			}
		}
	}
}

// slowloris sends a command one byte per second, never ending the line:
// lmtpd must close the connection within command_timeout (issue 17 #9:
// a line cut by the timeout is not a command).
func slowloris(h *hostile) {
	h.r.tries = 2
	var wg sync.WaitGroup
	for _, line := range []string{"MAIL FROM:<sender@example.net>", "NOOP"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := h.raw()
			if cl == nil {
				return
			}
			defer cl.Close()
			start := time.Now()
			closed := make(chan string, 1)
			go func() {
				var got []string
				for {
					cl.c.SetReadDeadline(time.Now().Add(60 * time.Second))
					rp, err := cl.reply()
					if err != nil {
						closed <- strings.Join(got, " / ")
						return
					}
					got = append(got, trunc(rp, 40))
				}
			}()
			for i := 0; ; i = (i + 1) % len(line) {
				select {
				case got := <-closed:
					took := time.Since(start)
					h.r.note("closed after %s", took.Round(100*time.Millisecond))
					if took > commandTimeout+slack {
						h.r.count("lived too long", 1)
						h.r.fail("%q trickled: closed after %s (command_timeout %s), replies %q", line, took.Round(time.Millisecond), commandTimeout, got)
					}
					if strings.Contains(got, "250") || strings.Contains(got, " 5") && !strings.HasPrefix(got, "221") {
						h.r.fail("%q trickled: a cut line was answered: %q", line, got)
					}
					return
				case <-time.After(time.Second):
					cl.c.SetWriteDeadline(time.Now().Add(time.Second))
					cl.write(line[i : i+1])
				}
			}
		}()
	}
	wg.Wait()
	h.r.count("lived too long", 0)
}

// tooManyConns opens 12 connections against max_connections = 8: the
// extra ones get 421 4.x.x (never a 5xx); once they close, a new one is
// served.
func tooManyConns(h *hostile) {
	h.r.tries = 12
	var conns []net.Conn
	for i := 0; i < 12; i++ {
		c, err := net.Dial("unix", h.e.sock())
		if err != nil {
			h.r.count("refused", 1)
			continue
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		l, err := bufio.NewReader(c).ReadString('\n')
		switch {
		case strings.HasPrefix(l, "220"):
			h.r.count("220", 1)
		case strings.HasPrefix(l, "421 4."):
			h.r.count("421 4.x.x", 1)
		case err != nil:
			h.r.count("no greeting within 5s", 1)
		default:
			h.r.count("wrong reply", 1)
			h.r.fail("greeting %q", l)
		}
	}
	if n := h.r.get("220"); n > 8 {
		h.r.fail("%d connections served, max_connections 8", n)
	}
	for _, c := range conns {
		c.Close()
	}
	// lmtpd frees a slot when it reads the hang-up: a new connection must
	// be served within a few seconds (polled, bounded)
	for deadline := time.Now().Add(5 * time.Second); ; {
		cl, g, err := dialLMTP(h.e.sock(), 5*time.Second)
		if err == nil {
			cl.Close()
		}
		if strings.HasPrefix(g, "220") {
			h.r.count("served after the others closed", 1)
			return
		}
		if time.Now().After(deadline) {
			h.r.fail("no 220 within 5s after closing the other connections: %q %v", g, err)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// bogusBDAT: BDAT sizes that are not numbers, overflow, a chunk before
// MAIL, one over max_message_size. Each gets a 5xx and the connection
// stays usable (RSET 250), except a chunk cut short, which must just not
// hurt lmtpd.
func bogusBDAT(h *hostile) {
	for _, c := range []struct {
		name, mail, cmd string
		data            int
	}{
		{"overflowing size", "MAIL FROM:<sender@example.net>", "BDAT 99999999999999999999999 LAST", 0},
		{"negative size", "MAIL FROM:<sender@example.net>", "BDAT -5 LAST", 0},
		{"size not a number", "MAIL FROM:<sender@example.net>", "BDAT 1e3 LAST", 0},
		{"chunk before MAIL", "", "BDAT 5000", 5000},
		{"chunk over max_message_size", "MAIL FROM:<sender@example.net>", "BDAT 33554432 LAST", 32 << 20},
	} {
		h.r.tries++
		cl := h.raw()
		if cl == nil {
			return
		}
		cl.deadline(30 * time.Second)
		if c.mail != "" {
			cl.cmd(c.mail)
			cl.cmd("RCPT TO:<user@domain.org>")
		}
		go cl.write(c.cmd + "\r\n" + strings.Repeat("z", c.data))
		rp, err := cl.reply()
		if h.expect(c.name, rp, err, "5") {
			rp, err = cl.cmd("RSET")
			if err != nil || !strings.HasPrefix(rp, "250") {
				h.r.count("connection lost", 1)
				h.r.fail("%s: RSET after it: %q %v", c.name, rp, err)
			}
		}
		cl.Close()
	}
	h.r.tries++
	cl := h.raw() // a chunk cut short by a hang-up
	if cl != nil {
		cl.cmd("MAIL FROM:<sender@example.net>")
		cl.cmd("RCPT TO:<user@domain.org>")
		cl.write("BDAT 100 LAST\r\nshort")
		cl.Close()
	}
	h.r.mustZero("connection lost")
}

// headerInjection: values from outside that become header fields (ORCPT
// in LMTP, -a and -f in pipe mode) carrying CR/LF must never add a field
// to the stored message (issue 15 #1): refused (5.1.x, exit 65) or
// delivered without the injected field.
func headerInjection(h *hostile) {
	cl := h.raw()
	if cl == nil {
		return
	}
	cl.cmd("MAIL FROM:<sender@example.net>")
	for _, orcpt := range []string{"rfc822;a+0D+0AX-Injected:+yes@example.org", "rfc822;a+0AX-Injected:+yes@example.org", "rfc822;a+00b@example.org"} {
		h.r.tries++
		rp, err := cl.cmd("RCPT TO:<user@domain.org> ORCPT=" + orcpt)
		h.expect("ORCPT "+orcpt, rp, err, "250", "501", "553", "550")
	}
	if rp, err := cl.cmd("DATA"); err == nil && strings.HasPrefix(rp, "354") {
		cl.write("Subject: inject-s0\r\n\r\n.\r\n")
		cl.deadline(10 * time.Second)
		for i := 0; i < 3; i++ {
			if _, err := cl.reply(); err != nil {
				break
			}
		}
	}
	cl.Close()
	cfg := filepath.Join(h.e.dir, "hostile.toml")
	for _, args := range [][]string{
		{"-a", "orig@example.org\nX-Injected: yes", "-f", "sender@example.net"},
		{"-a", "orig@example.org\r\nX-Injected: yes", "-f", "sender@example.net"},
		{"-f", "sender@example.net\nX-Injected: yes"},
	} {
		h.r.tries++
		cmd := exec.Command(deliverBin(), append(append([]string{"-c", cfg}, args...), "-d", "user@domain.org")...)
		cmd.Stdin = strings.NewReader("Subject: inject-s0\n\n")
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		switch {
		case code == 0:
			h.r.count("deliver exit 0", 1)
		case code == 65 && strings.HasPrefix(string(out), "5.1."):
			h.r.count("deliver exit 65 5.1.x", 1)
		default:
			h.r.count("wrong reply", 1)
			h.r.fail("deliver %q: exit %d %q", args, code, out)
		}
	}
	ents, _ := os.ReadDir(filepath.Join(h.e.maildir("user@domain.org"), "new"))
	for _, en := range ents {
		b, _ := os.ReadFile(filepath.Join(h.e.maildir("user@domain.org"), "new", en.Name()))
		if strings.Contains(string(b), "\nX-Injected:") {
			h.r.count("injected", 1)
		}
	}
	h.r.mustZero("injected")
}

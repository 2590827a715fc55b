//go:build faults

package faults

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestCrash: SIGKILL at random moments. Whatever got 250 or exit 0 must be
// in new/ exactly once and whole; nothing incomplete may be in new/.
func TestCrash(t *testing.T) {
	runRow(t, "crash", "lmtpd kill -9 under load", crashLmtpd)
	runRow(t, "crash", "lmtpd kill -9 creating mailboxes", crashLmtpdCreate)
	runRow(t, "crash", "deliver kill -9 mid-write (1-8 MB)", crashDeliver)
}

// crashTally gathers what the cycles acknowledged and what is on disk.
type crashTally struct {
	mu    sync.Mutex
	acked map[string]map[string]bool // maildir -> subject -> acknowledged
	seen  map[string]map[string]bool // maildir -> file names read
	disk  map[string]*stored
}

func newTally(maildirs ...string) *crashTally {
	ct := &crashTally{acked: map[string]map[string]bool{}, seen: map[string]map[string]bool{}, disk: map[string]*stored{}}
	for _, m := range maildirs {
		ct.acked[m], ct.seen[m], ct.disk[m] = map[string]bool{}, map[string]bool{}, &stored{}
	}
	return ct
}

// track adds a maildir to watch.
func (ct *crashTally) track(m string) {
	ct.mu.Lock()
	ct.acked[m], ct.seen[m], ct.disk[m] = map[string]bool{}, map[string]bool{}, &stored{}
	ct.mu.Unlock()
}

func (ct *crashTally) ack(maildir, subj string) {
	ct.mu.Lock()
	ct.acked[maildir][subj] = true
	ct.mu.Unlock()
}

// collect reads what is new in each new/ and counts and removes tmp/
// leftovers (a SIGKILL mid-write leaves its tmp file behind, as with
// Dovecot, which removes tmp/ files older than 36 hours).
func (ct *crashTally) collect(r *row) {
	for m := range ct.acked {
		if err := scanNew(m, ct.seen[m], ct.disk[m]); err != nil {
			r.fail("scan %s: %v", m, err)
		}
		tmp := filepath.Join(m, "tmp")
		r.count("tmp leftovers", int64(countDir(tmp)))
		clearDir(tmp)
	}
}

// verdict counts acked, lost, duplicated and corrupt and fails the row on
// any loss, duplicate, corrupt file or file owned by root.
func (ct *crashTally) verdict(r *row) {
	var acked, lost, dup, corrupt, unacked, root int64
	for m, subs := range ct.acked {
		d := ct.disk[m]
		for s := range subs {
			acked++
			if d.subject[s] == 0 {
				lost++
				if lost <= 3 {
					r.fail("acknowledged %s missing from %s/new", s, m)
				}
			}
		}
		for s, n := range d.subject {
			if n > 1 {
				dup += int64(n - 1)
			}
			if !subs[s] {
				unacked++
			}
		}
		corrupt += int64(len(d.corrupt))
		root += int64(len(d.rootOwn))
	}
	r.count("acked", acked)
	r.count("lost", lost)
	r.count("duplicated", dup)
	r.count("corrupt", corrupt)
	r.count("owned by root", root)
	r.count("stored unacked", unacked)
	r.mustZero("duplicated", "corrupt", "owned by root")
	if acked == 0 {
		r.fail("nothing was acknowledged")
	}
}

// crashLmtpd: each cycle starts lmtpd, runs four concurrent clients sending
// two-recipient messages (two uids, lmtpd as root), SIGKILLs lmtpd at a
// random moment after 1-12 acknowledgements, and reads what reached new/.
func crashLmtpd(t *testing.T, r *row) {
	e := newEnv(t, nil)
	cfg := e.config("lmtpd", section{"userdb": `timeout = "5s"`})
	rcpts := []string{"user@domain.org", "user@foo.org"}
	md := map[string]string{rcpts[0]: e.maildir(rcpts[0]), rcpts[1]: e.maildir(rcpts[1])}
	ct := newTally(md[rcpts[0]], md[rcpts[1]])
	rnd := rng(r.class + r.name)
	r.tries = tries(300, 1000)
	for c := 0; c < r.tries; c++ {
		d, err := tryStartLmtpd(cfg, 30*time.Second)
		if err != nil {
			r.fail("cycle %d: %v", c, err)
			break
		}
		killAfter := int64(1 + rnd.IntN(12))
		jitter := time.Duration(rnd.IntN(3000)) * time.Microsecond
		enough := make(chan struct{})
		var once sync.Once
		var n atomic.Int64
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				wr := rand.New(rand.NewPCG(seed, uint64(c*16+w)))
				ct.sendUntilGone(e.sock(), rcpts, func(rcpt string) string { return md[rcpt] }, func(i int) string {
					return subject(fmt.Sprintf("c%d-w%d-i%d", c, w, i), 200+wr.IntN(32<<10))
				}, func() {
					if n.Add(1) >= killAfter {
						once.Do(func() { close(enough) })
					}
				})
			}(w)
		}
		ct.killWhen(r, c, d, enough, jitter, &wg)
		if r.t.Failed() {
			break
		}
	}
	r.count("cycles", int64(r.tries))
	ct.verdict(r)
}

// crashLmtpdCreate: the first deliveries into mailboxes that do not exist
// yet, killed while lmtpd creates them (the directory syncs wait for the
// message's commit, maildir/pending.go). Each cycle adds fresh users: four
// clients each send to a mailbox of their own and to one they share (two
// sessions creating the same mailbox at once), and one client sends to the
// previous cycle's shared mailbox, which the kill may have left half made.
// lmtpd is SIGKILLed after 0-3 acknowledgements and a random pause of up to
// 4 ms. What got 250 must be in new/, whole, exactly once.
//
// SIGKILL leaves the page cache, so this proves the order of the steps
// (nothing acknowledged before its directories and file exist complete)
// and that a half-made mailbox is completed, not the fsyncs themselves:
// the suite has no power-cut mechanism (see README "Reliability").
func crashLmtpdCreate(t *testing.T, r *row) {
	e := newEnv(t, nil)
	cfg := e.config("lmtpd", section{"userdb": `timeout = "5s"`})
	var all []string
	ct := newTally()
	rnd := rng(r.class + r.name)
	r.tries = tries(150, 600)
	prevShared := ""
	for c := 0; c < r.tries; c++ {
		shared := fmt.Sprintf("new%d-shared@domain.org", c)
		own := make([]string, 4)
		for w := range own {
			own[w] = fmt.Sprintf("new%d-w%d@domain.org", c, w)
		}
		var rows strings.Builder
		for _, a := range append([]string{shared}, own...) {
			local, _, _ := strings.Cut(a, "@")
			fmt.Fprintf(&rows, "insert into users (userid, uid, gid, home) values ('%s', %d, %d, 'domain.org/mails/%s');\n", a, uid1, uid1, local)
			m := e.maildir(a)
			all = append(all, m)
			ct.track(m)
		}
		e.db.Exec(t, rows.String())
		d, err := tryStartLmtpd(cfg, 30*time.Second)
		if err != nil {
			r.fail("cycle %d: %v", c, err)
			break
		}
		killAfter := int64(rnd.IntN(4))
		jitter := time.Duration(rnd.IntN(4000)) * time.Microsecond
		enough := make(chan struct{})
		var once sync.Once
		if killAfter == 0 {
			once.Do(func() { close(enough) })
		}
		var n atomic.Int64
		var wg sync.WaitGroup
		clients := [][]string{{own[0], shared}, {own[1], shared}, {own[2]}, {own[3]}}
		if prevShared != "" {
			clients = append(clients, []string{prevShared})
		}
		for w, rcpts := range clients {
			wg.Add(1)
			go func(w int, rcpts []string) {
				defer wg.Done()
				ct.sendUntilGone(e.sock(), rcpts, e.maildir, func(i int) string {
					return subject(fmt.Sprintf("n%d-w%d-i%d", c, w, i), 200+rnd2(c, w, i))
				}, func() {
					if n.Add(1) >= killAfter {
						once.Do(func() { close(enough) })
					}
				})
			}(w, rcpts)
		}
		ct.killWhen(r, c, d, enough, jitter, &wg)
		for _, m := range all[len(all)-5:] {
			if _, err := os.Stat(m); err == nil {
				r.count("mailboxes created", 1)
			}
		}
		if r.t.Failed() {
			break
		}
		prevShared = shared
	}
	r.count("cycles", int64(r.tries))
	ct.verdict(r)
}

// rnd2 is a message body size from a cycle, client and message number.
func rnd2(c, w, i int) int { return rand.New(rand.NewPCG(seed, uint64(c*64+w*8+i))).IntN(16 << 10) }

// sendUntilGone sends messages (subject(i) for the i-th) to rcpts over
// LMTP until the connection fails, recording every 250 in ct under the
// recipient's maildir and calling acked after each.
func (ct *crashTally) sendUntilGone(sock string, rcpts []string, maildir func(string) string, subject func(int) string, acked func()) {
	for i := 0; ; i++ {
		subj := subject(i)
		rr, err := deliverLMTP(sock, rcpts, testMessage(subj, sizeOf(subj)), 20*time.Second)
		for _, x := range rr {
			if strings.HasPrefix(x.reply, "250 ") {
				ct.ack(maildir(x.rcpt), subj)
				acked()
			}
		}
		if err != nil {
			return
		}
	}
}

// killWhen waits until enough is closed (then a further jitter: the random
// moment of the kill), SIGKILLs d, waits for the clients and collects
// what reached new/.
func (ct *crashTally) killWhen(r *row, c int, d *daemon, enough <-chan struct{}, jitter time.Duration, wg *sync.WaitGroup) {
	select {
	case <-enough:
		time.Sleep(jitter) // the random moment of the kill, not a synchronisation
	case <-time.After(30 * time.Second):
		r.fail("cycle %d: no acknowledgement within 30s", c)
	}
	d.kill()
	wg.Wait()
	ct.collect(r)
}

// sizeOf reads the body size back from a subject made by subject().
func sizeOf(subj string) int {
	var n int
	fmt.Sscanf(subj[strings.LastIndex(subj, "-s")+2:], "%d", &n)
	return n
}

// crashDeliver: deliver, as root for a uid 1001 mailbox, fed a 1-8 MB
// message on stdin, SIGKILLed at a random moment between its start and a
// little after its usual end.
func crashDeliver(t *testing.T, r *row) {
	e := newEnv(t, nil)
	cfg := e.config("deliver", section{"userdb": `timeout = "5s"`})
	md := e.maildir("user@domain.org")
	ct := newTally(md)
	rnd := rng(r.class + r.name)
	// calibrate: the fastest of three whole 8 MB deliveries
	var full time.Duration
	for i := 0; i < 3; i++ {
		subj := subject(fmt.Sprintf("calibrate%d", i), 8<<20)
		start := time.Now()
		if code, out := runDeliverKill(cfg, testMessage(subj, 8<<20), -1); code != 0 {
			r.fail("calibration delivery: exit %d %s", code, out)
			return
		}
		if took := time.Since(start); full == 0 || took < full {
			full = took
		}
		ct.ack(md, subj)
	}
	r.note("whole 8 MB delivery %s", full.Round(time.Millisecond))
	r.tries = tries(40, 150)
	for i := 0; i < r.tries; i++ {
		size := 1<<20 + rnd.IntN(7<<20)
		subj := subject(fmt.Sprintf("d%d", i), size)
		// a moment up to 1.2 times the usual time for this size
		at := time.Duration(rnd.Int64N(1 + int64(full)*int64(size)/(8<<20)*12/10))
		code, out := runDeliverKill(cfg, testMessage(subj, size), at)
		switch code {
		case 0:
			ct.ack(md, subj)
			r.count("exit 0 before the kill", 1)
		case -9:
			r.count("killed", 1)
		default:
			r.count("other exit", 1)
			r.fail("try %d: exit %d %q (want 0 or killed)", i, code, out)
		}
		ct.collect(r)
	}
	ct.verdict(r)
}

// runDeliverKill runs deliver with msg on stdin and SIGKILLs it after at
// (never when at < 0). It returns the exit code, -9 when killed.
func runDeliverKill(cfg, msg string, at time.Duration) (int, string) {
	cmd := exec.Command(deliverBin(), "-c", cfg, "-f", "sender@example.net", "-d", "user@domain.org")
	cmd.Stdin = strings.NewReader(msg)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return -1, err.Error()
	}
	if at >= 0 {
		time.AfterFunc(at, func() { cmd.Process.Signal(syscall.SIGKILL) })
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return -9, out.String()
		}
		return ee.ExitCode(), out.String()
	}
	if err != nil {
		return -1, err.Error()
	}
	return 0, out.String()
}

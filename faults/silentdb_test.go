//go:build faults

package faults

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"maildeliver/internal/testdb"
)

// dbTimeout is [userdb] timeout in the silent database rows.
const dbTimeout = 2 * time.Second

// slack is what a bounded wait may take beyond its configured limit: a
// process start, a busy machine.
const slack = 1500 * time.Millisecond

// TestSilentDB: the userdb accepts TCP connections and never answers. Every
// lookup must end as a temporary failure within [userdb] timeout: deliver
// exit 75 with 4.x.x, lmtpd 451 4.x.x at RCPT; never a hang, never 5xx.
func TestSilentDB(t *testing.T) {
	for _, drv := range []struct {
		name, connect string
		hangup        bool
	}{
		{"pgsql", "host=127.0.0.1 port=%d dbname=mails user=mailreader password=secret", false},
		{"mysql", "host=127.0.0.1 port=%d dbname=mails user=mailreader password=secret", false},
		// issue 17 #5: the MySQL driver's "unexpected EOF" must not reach
		// deliver's one line of output
		{"mysql that hangs up at once", "host=127.0.0.1 port=%d dbname=mails user=mailreader password=secret", true},
	} {
		runRow(t, "silent database", drv.name+": deliver", func(t *testing.T, r *row) {
			e, cfg := silentEnv(t, drv.name[:5], drv.connect, drv.hangup)
			r.tries = 3
			var worst time.Duration
			for i := 0; i < r.tries; i++ {
				start := time.Now()
				code, out := runDeliverKill(cfg, testMessage(subject("s", 100), 100), 4*dbTimeout)
				took := time.Since(start)
				worst = max(worst, took)
				switch {
				case code == 75 && strings.HasPrefix(out, "4.") && strings.Count(out, "\n") == 1 && took <= dbTimeout+slack:
					r.count("exit 75 4.x.x in time", 1)
				case code == -9:
					r.count("hang", 1)
				default:
					r.count("wrong", 1)
					r.fail("exit %d %q after %s (want 75, one 4.x.x line within %s)", code, strings.TrimSpace(out), took.Round(time.Millisecond), dbTimeout)
				}
				if countDir(e.maildir("user@domain.org")+"/new") != 0 {
					r.fail("delivered without a lookup")
				}
			}
			r.note("slowest %s (timeout %s)", worst.Round(time.Millisecond), dbTimeout)
			r.mustZero("hang", "wrong")
		})
		if drv.hangup {
			continue
		}
		runRow(t, "silent database", drv.name+": lmtpd RCPT", func(t *testing.T, r *row) {
			e, cfg := silentEnv(t, drv.name, drv.connect, false)
			d, err := tryStartLmtpd(cfg, 4*dbTimeout+slack)
			if err != nil {
				r.fail("lmtpd start with a silent database: %v", err)
				return
			}
			defer d.kill()
			r.tries = 6 // three rounds of two concurrent connections
			var worst time.Duration
			for round := 0; round < 3; round++ {
				var wg sync.WaitGroup
				for c := 0; c < 2; c++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						took, reply, err := timedRCPT(e.sock(), "user@domain.org", 4*dbTimeout)
						r.mu.Lock()
						worst = max(worst, took)
						r.mu.Unlock()
						switch {
						case err != nil:
							r.count("hang or no reply", 1)
							r.fail("RCPT: %v after %s", err, took.Round(time.Millisecond))
						case strings.HasPrefix(reply, "451 4.") && took <= dbTimeout+slack:
							r.count("451 4.x.x in time", 1)
						default:
							r.count("wrong", 1)
							r.fail("RCPT: %q after %s (want 451 4.x.x within %s)", reply, took.Round(time.Millisecond), dbTimeout)
						}
					}()
				}
				wg.Wait()
			}
			r.note("slowest %s (timeout %s)", worst.Round(time.Millisecond), dbTimeout)
			if !d.stop(10 * time.Second) {
				r.fail("SIGTERM did not end lmtpd within 10s")
			}
			r.mustZero("hang or no reply", "wrong")
		})
	}
}

// silentEnv is an env whose userdb is a silent listener posing as drv.
func silentEnv(t *testing.T, drv, connect string, hangup bool) (*env, string) {
	e := newEnv(t, nil)
	addr := silentListener(t, hangup)
	e2 := *e
	e2.db = &testdb.DB{Driver: drv, Connect: fmt.Sprintf(connect, addr.Port)}
	return e, e2.config("silent-"+drv, section{"userdb": fmt.Sprintf("timeout = %q", dbTimeout.String())})
}

// silentListener accepts connections and never writes a byte (or, with
// hangup, closes each at once).
func silentListener(t *testing.T, hangup bool) *net.TCPAddr {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if hangup {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return ln.Addr().(*net.TCPAddr)
}

// timedRCPT opens a connection and times the reply to one RCPT.
func timedRCPT(sock, rcpt string, limit time.Duration) (time.Duration, string, error) {
	cl, g, err := dialLMTP(sock, limit)
	if err != nil {
		return 0, g, err
	}
	defer cl.Close()
	if r, err := cl.cmd("LHLO faults.test"); err != nil {
		return 0, r, err
	}
	if r, err := cl.cmd("MAIL FROM:<sender@example.net>"); err != nil {
		return 0, r, err
	}
	start := time.Now()
	cl.deadline(limit)
	r, err := cl.cmd("RCPT TO:<" + rcpt + ">")
	return time.Since(start), r, err
}

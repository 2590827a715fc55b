package lmtp

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"

	"maildeliver/internal/config"
)

// TestConcurrentLoad: many connections, each with many transactions of
// 1-10 recipients (now and then an unknown one), deliver concurrently into
// a dozen mailboxes of two uids. Afterwards every 250 has exactly one
// complete file, new/ holds nothing else, and tmp/ and spool_dir are empty.
func TestConcurrentLoad(t *testing.T) {
	conns, perConn := 32, 200
	if testing.Short() {
		conns, perConn = 8, 25
	}
	a, b := uids()
	users := make(map[string]int)
	var addrs []string
	for i := range 12 {
		addr := fmt.Sprintf("u%02d@domain.org", i)
		users[addr] = a
		if i%2 == 1 {
			users[addr] = b
		}
		addrs = append(addrs, addr)
	}
	e := newEnv(t, envOptions{users: users, config: func(c *config.Config) {
		c.LMTP.SpoolMemory = 8 << 10 // some messages go through the spool file
		c.LMTP.MaxConnections = conns
		// Every connection names the same few users: the per-user
		// limit (TestUserConcurrencyLimit) is not this test's subject.
		c.LMTP.UserConcurrencyLimit = 0
	}})

	type accepted struct{ token, rcpt, id string }
	var mu sync.Mutex
	var oks []accepted
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for n := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(n), 42))
			network := []string{"unix", "tcp"}[n%2]
			addr := e.unix
			if network == "tcp" {
				addr = e.tcp
			}
			nc, err := net.Dial(network, addr)
			if err != nil {
				errs <- err
				return
			}
			c := smtp.NewClientLMTP(nc)
			defer c.Close()
			for i := range perConn {
				token := fmt.Sprintf("c%02dm%03d", n, i)
				var rcpts []string
				for _, j := range rng.Perm(len(addrs))[:1+rng.IntN(10)] {
					rcpts = append(rcpts, addrs[j])
				}
				if rng.IntN(10) == 0 {
					rcpts = append(rcpts, "ghost@domain.org")
				}
				if err := c.Mail("sender@example.net", nil); err != nil {
					errs <- fmt.Errorf("%s MAIL: %w", token, err)
					return
				}
				var ok []string
				for _, r := range rcpts {
					err := c.Rcpt(r, nil)
					if r == "ghost@domain.org" {
						if se, is := err.(*smtp.SMTPError); !is || se.Code != 550 {
							errs <- fmt.Errorf("%s RCPT %s: %v, want 550", token, r, err)
							return
						}
						continue
					}
					if err != nil {
						errs <- fmt.Errorf("%s RCPT %s: %w", token, r, err)
						return
					}
					ok = append(ok, r)
				}
				w, err := c.Data()
				if err != nil {
					errs <- fmt.Errorf("%s DATA: %w", token, err)
					return
				}
				var body strings.Builder
				fmt.Fprintf(&body, "Subject: %s\r\nMessage-ID: <%s@example.net>\r\n\r\n", token, token)
				for range rng.IntN(300) {
					body.WriteString(strings.Repeat("z", rng.IntN(100)) + "\r\n")
				}
				body.WriteString("END-" + token + "\r\n")
				io.WriteString(w, body.String())
				resp, err := w.CloseWithLMTPResponse()
				if err != nil {
					errs <- fmt.Errorf("%s end of DATA: %w", token, err)
					return
				}
				mu.Lock()
				for _, r := range ok {
					m := savedRe.FindStringSubmatch("250 " + resp[r].StatusText)
					if m == nil {
						mu.Unlock()
						errs <- fmt.Errorf("%s %s: reply %q", token, r, resp[r].StatusText)
						return
					}
					oks = append(oks, accepted{token, r, m[2]})
				}
				mu.Unlock()
			}
			c.Quit()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	e.stop()

	sizeRe := regexp.MustCompile(`,S=(\d+)$`)
	type key struct{ token, rcpt string }
	files := make(map[key][]string) // contents
	total := 0
	for _, addr := range addrs {
		if tmp := e.files(addr, "tmp"); len(tmp) > 0 {
			t.Errorf("%s: tmp/ holds %d files", addr, len(tmp))
		}
		for _, name := range e.files(addr, "new") {
			total++
			b, err := os.ReadFile(filepath.Join(e.users[addr].maildir, "new", name))
			if err != nil {
				t.Fatal(err)
			}
			m := sizeRe.FindStringSubmatch(name)
			if m == nil || m[1] != strconv.Itoa(len(b)) {
				t.Errorf("%s/%s: %d bytes", addr, name, len(b))
			}
			s := string(b)
			sub := regexp.MustCompile(`(?m)^Subject: (\S+)$`).FindStringSubmatch(s)
			if sub == nil || !strings.HasSuffix(s, "\nEND-"+sub[1]+"\n") {
				t.Errorf("%s/%s: incomplete message", addr, name)
				continue
			}
			files[key{sub[1], addr}] = append(files[key{sub[1], addr}], s)
		}
	}
	for _, a := range oks {
		got := files[key{a.token, a.rcpt}]
		if len(got) != 1 {
			t.Errorf("%s for %s: %d files, want 1", a.token, a.rcpt, len(got))
			continue
		}
		if !strings.Contains(got[0], "with LMTP id "+a.id+"\n\tfor <"+a.rcpt+">;") {
			t.Errorf("%s for %s: Received does not name id %s", a.token, a.rcpt, a.id)
		}
	}
	if total != len(oks) {
		t.Errorf("%d files in new/, %d replies 250", total, len(oks))
	}
	if ents, _ := os.ReadDir(e.cfg.LMTP.SpoolDir); len(ents) != 0 {
		t.Errorf("spool_dir holds %d entries", len(ents))
	}
	t.Logf("%d connections x %d transactions: %d deliveries", conns, perConn, len(oks))
}

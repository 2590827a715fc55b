package lmtp

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"maildeliver/internal/config"
)

// policyAsk sends one policy request for rcpt with size and returns the
// action.
func policyAsk(t *testing.T, c net.Conn, r *bufio.Reader, rcpt string, size int64) string {
	t.Helper()
	fmt.Fprintf(c, "request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"+
		"sender=s@example.net\nrecipient=%s\nsize=%d\ninstance=1.2.3\n\n", rcpt, size)
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if blank, err := r.ReadString('\n'); blank != "\n" || err != nil {
		t.Fatalf("no empty line after the answer: %q %v", blank, err)
	}
	return strings.TrimSuffix(strings.TrimPrefix(line, "action="), "\n")
}

// TestQuotaStatusService: lmtpd answers Postfix's policy requests on
// [quota_status] listen with the delivery's own lookup and quota: alice
// holds about 1500 of 2048 bytes, bob has no maildir yet.
func TestQuotaStatusService(t *testing.T) {
	for _, tc := range []struct{ policy, code string }{{"bounce", "552 5.2.2"}, {"defer", "452 4.2.2"}} {
		t.Run(tc.policy, func(t *testing.T) {
			var sock string
			e := newEnv(t, envOptions{config: func(c *config.Config) {
				c.Quota.Default = "2k"
				c.Quota.Full = tc.policy
				sock = filepath.Join(filepath.Dir(c.LMTP.SpoolDir), "quota-status")
				c.QuotaStatus.Listen = "unix:" + sock
				c.QuotaStatus.SocketGroup = ""
				c.QuotaStatus.SocketMode = 0o600
				withMetrics(c)
			}})
			if st, err := os.Stat(sock); err != nil || st.Mode().Perm() != 0o600 {
				t.Fatalf("socket: %v %v", st, err)
			}
			if a := e.srv.QuotaStatusAddr(); a == nil || a.String() != sock {
				t.Fatalf("QuotaStatusAddr = %v", a)
			}
			lc := e.raw("unix")
			lc.send("LHLO client.test\r\nMAIL FROM:<s@example.net>\r\nRCPT TO:<alice@domain.org>\r\nDATA\r\n")
			for range 4 {
				lc.reply()
			}
			lc.send(msg("fill", strings.Repeat("f", 1300)) + ".\r\n")
			savedID(t, lc.reply(), "alice@domain.org")

			c, err := net.Dial("unix", sock)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			r := bufio.NewReader(c)
			over := tc.code + " <alice@domain.org>: mailbox is full"
			for _, q := range []struct {
				rcpt string
				size int64
				want string
			}{
				{"alice@domain.org", 1000, over},
				{"alice@domain.org", 100, "DUNNO"},
				{"alice@domain.org", 0, "DUNNO"}, // no SIZE: only a full mailbox is refused
				{"alice+lists@domain.org", 1000, tc.code + " <alice+lists@domain.org>: mailbox is full"},
				{"bob@foo.org", 1000, "DUNNO"},
				{"bob@foo.org", 5000, tc.code + " <bob@foo.org>: mailbox is full"}, // more than the whole quota
				{"nobody@domain.org", 5000, "DUNNO"},
				{"alice@domain.org", 1000, over}, // the same connection, still
			} {
				if got := policyAsk(t, c, r, q.rcpt, q.size); got != q.want {
					t.Errorf("%s size=%d: action=%s, want %s", q.rcpt, q.size, got, q.want)
				}
			}
			// Every refusal the service answered is counted, nothing else.
			if v := metricValue(e.scrape(), "maildeliver_quota_refusals_total", "stage=policy"); v != 4 {
				t.Errorf("quota_refusals_total{stage=policy} = %v, want 4", v)
			}
			// A question never creates a mailbox.
			if _, err := os.Stat(e.users["bob@foo.org"].maildir); !os.IsNotExist(err) {
				t.Errorf("bob's maildir after the questions: %v", err)
			}
			// The delivery agrees: SIZE=1000 at RCPT gets the same refusal.
			lc.send("MAIL FROM:<s@example.net> SIZE=1000\r\nRCPT TO:<alice@domain.org>\r\nRSET\r\n")
			lc.expect("250 ")
			lc.expect(tc.code + " <alice@domain.org>: mailbox is full")
			lc.expect("250 ")
			e.stop()
			if _, err := os.Stat(sock); !os.IsNotExist(err) {
				t.Errorf("socket left after shutdown: %v", err)
			}
			if _, err := r.ReadByte(); err != io.EOF {
				t.Errorf("kept-alive connection after shutdown: %v", err)
			}
		})
	}
}

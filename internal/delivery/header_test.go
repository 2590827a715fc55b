package delivery

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"maildeliver/internal/config"
	"maildeliver/internal/message"
	"maildeliver/internal/status"
)

// TestHeaderValuesRefused: every outside value that Deliver writes into a
// prepended field goes through the one address rule, whichever caller
// forgot to check it: refused before the mailbox is touched.
func TestHeaderValuesRefused(t *testing.T) {
	a := NewAgent(config.Defaults(), fakeDB{}, nil)
	md := filepath.Join(t.TempDir(), "Maildir")
	msg, err := message.ReadStream(strings.NewReader("Subject: s\n\nb\n"))
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 300) + "@example.org"
	for _, tc := range []struct {
		name string
		rcpt string
		req  Request
		enh  string
	}{
		{"orig LF", "bob@x", Request{OrigRecipient: "orig@example.org\nX-Injected: yes"}, "5.1.3"},
		{"orig CR", "bob@x", Request{OrigRecipient: "orig@example.org\rX-Injected: yes"}, "5.1.3"},
		{"orig NUL", "bob@x", Request{OrigRecipient: "orig@example.org\x00"}, "5.1.3"},
		{"orig long", "bob@x", Request{OrigRecipient: long}, "5.1.3"},
		{"sender LF", "bob@x", Request{Sender: "s@y>\nX-Injected: yes"}, "5.1.7"},
		{"sender long", "bob@x", Request{Sender: long}, "5.1.7"},
		{"recipient LF", "bob@x\nX-Injected: yes", Request{}, "5.1.3"},
		{"recipient long", long, Request{}, "5.1.3"},
		{"received two fields", "bob@x", Request{Received: "Received: by h\nX-Injected: yes\n"}, "4.3.0"},
		{"received CR", "bob@x", Request{Received: "Received: by h\r\n"}, "4.3.0"},
		{"received no LF", "bob@x", Request{Received: "Received: by h"}, "4.3.0"},
	} {
		tg := &Target{Recipient: tc.rcpt, Maildir: md, UID: os.Getuid(), GID: os.Getgid()}
		_, err := a.Deliver(t.Context(), tg, tc.req, msg)
		if st := status.From(err); st == nil || string(st.Enhanced) != tc.enh {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.enh)
		}
		if _, err := os.Stat(md); !os.IsNotExist(err) {
			t.Fatalf("%s: the mailbox was touched", tc.name)
		}
	}
	for _, ok := range []string{"", "Received: by h\n", "Received: from a (b)\n\tby c with LMTP id d\n\tfor <e>; f\n"} {
		if !oneField(ok) {
			t.Errorf("oneField(%q) = false", ok)
		}
	}
}

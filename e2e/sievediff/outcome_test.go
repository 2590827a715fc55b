package sievediff

// What a side left behind, as lines that compare equal when the sides
// agree: the stored files per folder, the outgoing mail the sink saw.

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"mime"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"maildeliver/internal/smtpsink"
)

// traceFields are the fields each side puts on top of the message it
// stores or sends on, by its own rules rather than the script's: they
// are removed from the top of the header (only there: a field of the
// same name further down came with the message) before the bytes are
// compared. Return-Path, wherever it is in the header: dovecot-lda keeps
// the message's own (and adds none), we replace it with the envelope
// sender (SPEC: exactly one), and an addheader puts fields above it; Delivered-To: ours, and
// Pigeonhole's on redirected copies; X-Original-To: ours with -a / ORCPT;
// Received: neither adds one at delivery, listed so that a future one
// shows as stripped, not as a difference; X-Maildeliver-Redirected-By:
// our mark on redirected copies; X-Sieve and X-Sieve-Redirected-From:
// Pigeonhole's on redirected copies (it also drops the message's
// Return-Path there).
var traceFields = map[string]bool{
	"return-path":                 true,
	"delivered-to":                true,
	"x-original-to":               true,
	"received":                    true,
	"x-maildeliver-redirected-by": true,
	"x-sieve":                     true,
	"x-sieve-redirected-from":     true,
}

// stripTrace removes the trace fields at the top of msg's header and
// every Return-Path, and turns CRLF into LF (SMTP's line ends are not
// the message's).
func stripTrace(msg []byte) []byte {
	msg = bytes.ReplaceAll(msg, []byte("\r\n"), []byte("\n"))
	var out []byte
	top := true
	for len(msg) > 0 && msg[0] != '\n' {
		// one field with its continuation lines
		end := 0
		for {
			i := bytes.IndexByte(msg[end:], '\n')
			if i < 0 {
				end = len(msg)
				break
			}
			end += i + 1
			if end >= len(msg) || (msg[end] != ' ' && msg[end] != '\t') {
				break
			}
		}
		name, _, _ := bytes.Cut(msg[:end], []byte(":"))
		lname := strings.ToLower(string(name))
		switch {
		case lname == "return-path":
		case top && traceFields[lname]:
		default:
			top = false
			out = append(out, msg[:end]...)
		}
		msg = msg[end:]
	}
	return append(out, msg...)
}

// snapshot describes the Maildir under home: one line per stored file
// ("store FOLDER new|cur flags=INFO kw=KEYWORDS body=HASH") and the
// subscriptions. bodies maps each hash to the stripped bytes (for the
// report of a difference).
func snapshot(t *testing.T, home string, bodies map[string]string) []string {
	t.Helper()
	root := filepath.Join(home, "Maildir")
	var lines []string
	ents, err := os.ReadDir(root)
	if os.IsNotExist(err) {
		return []string{"no Maildir"}
	}
	if err != nil {
		t.Fatal(err)
	}
	folders := []string{""}
	for _, e := range ents {
		if e.IsDir() && strings.HasPrefix(e.Name(), ".") {
			folders = append(folders, e.Name())
		}
	}
	for _, f := range folders {
		dir := filepath.Join(root, f)
		name := "INBOX"
		if f != "" {
			name = f
		}
		// INBOX's directories: Dovecot makes them whenever it opens the
		// mailbox list, we at the first store into INBOX; they are not
		// compared, what is stored in them is.
		if f != "" {
			if _, err := os.Stat(filepath.Join(dir, "cur")); err != nil {
				lines = append(lines, "folder "+name+" without cur/")
				continue
			}
			lines = append(lines, "folder "+name)
		}
		kw := keywords(dir)
		for _, sub := range []string{"new", "cur"} {
			files, _ := os.ReadDir(filepath.Join(dir, sub))
			for _, file := range files {
				b, err := os.ReadFile(filepath.Join(dir, sub, file.Name()))
				if err != nil {
					t.Fatal(err)
				}
				s := stripTrace(b)
				h := hash(s)
				bodies[h] = string(s)
				info := ""
				if _, i, ok := strings.Cut(file.Name(), ":2,"); ok {
					info = i
				}
				flags, kws := splitInfo(info, kw)
				lines = append(lines, fmt.Sprintf("store %s %s flags=%s kw=%s body=%s", name, sub, flags, kws, h))
			}
		}
	}
	if b, err := os.ReadFile(filepath.Join(root, "subscriptions")); err == nil {
		var subs []string
		for _, l := range strings.Split(string(b), "\n") {
			// Dovecot's file starts with a version line ("V\t2")
			if l != "" && !strings.HasPrefix(l, "V\t") {
				subs = append(subs, l)
			}
		}
		sort.Strings(subs)
		lines = append(lines, "subscribed "+strings.Join(subs, ","))
	}
	sort.Strings(lines)
	return lines
}

// splitInfo splits Maildir info into the system flag letters (upper
// case) and the keyword names the lower-case letters stand for in
// dovecot-keywords.
func splitInfo(info string, kw map[byte]string) (string, string) {
	var flags []byte
	var names []string
	for i := 0; i < len(info); i++ {
		c := info[i]
		if c >= 'a' && c <= 'z' {
			n, ok := kw[c]
			if !ok {
				n = "?" + string(c)
			}
			names = append(names, n)
			continue
		}
		flags = append(flags, c)
	}
	sort.Slice(flags, func(i, j int) bool { return flags[i] < flags[j] })
	sort.Strings(names)
	return string(flags), strings.Join(names, ",")
}

// keywords reads a folder's dovecot-keywords: "N name" lines, N = letter
// index (0 = a).
func keywords(dir string) map[byte]string {
	m := map[byte]string{}
	f, err := os.Open(filepath.Join(dir, "dovecot-keywords"))
	if err != nil {
		return m
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var n int
		var name string
		if _, err := fmt.Sscanf(sc.Text(), "%d %s", &n, &name); err == nil && n < 26 {
			m[byte('a'+n)] = name
		}
	}
	return m
}

func hash(b []byte) string {
	s := sha256.Sum256(b)
	return fmt.Sprintf("%x", s[:6])
}

// outgoing describes one message the sink accepted: a redirect (it
// carries the delivered message's Message-ID) by its envelope and
// stripped bytes; Pigeonhole's rejection (Auto-Submitted: auto-replied
// (rejected)) by its envelope and reason; anything else, a vacation
// reply, by its envelope and the header fields RFC 5230 and 3834 govern.
func outgoing(m smtpsink.Message, msgid string, bodies map[string]string) string {
	rcpts := strings.ToLower(strings.Join(m.To, ","))
	msg, err := mail.ReadMessage(strings.NewReader(m.Data))
	if err != nil {
		return fmt.Sprintf("unparsable mail from=<%s> to=%s: %v", m.From, rcpts, err)
	}
	h := msg.Header
	switch {
	case msgid != "" && strings.TrimSpace(h.Get("Message-ID")) == msgid:
		s := stripTrace([]byte(m.Data))
		hs := hash(s)
		bodies[hs] = string(s)
		return fmt.Sprintf("redirect from=<%s> rcpt=%s body=%s", m.From, rcpts, hs)
	case strings.EqualFold(h.Get("Auto-Submitted"), "auto-replied (rejected)"):
		reason := "?"
		if r := reRejected.FindStringSubmatch(strings.ReplaceAll(m.Data, "\r\n", "\n")); r != nil {
			reason = strings.TrimSpace(r[1])
		}
		return fmt.Sprintf("rejection from=<%s> rcpt=%s reason=%q", m.From, rcpts, reason)
	}
	to := h.Get("To")
	if a, err := mail.ParseAddress(to); err == nil {
		to = strings.ToLower(a.Address)
	}
	subj, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	if err != nil {
		subj = h.Get("Subject")
	}
	return fmt.Sprintf("vacation from=<%s> rcpt=%s To=%s Subject=%q Auto-Submitted=%q In-Reply-To=%s",
		m.From, rcpts, to, subj, h.Get("Auto-Submitted"), h.Get("In-Reply-To"))
}

// reRejected finds the reason in Pigeonhole's rejection text ("Your
// message to <...> was automatically rejected:" and the reason).
var reRejected = regexp.MustCompile(`(?s)was automatically rejected:\n(.*?)\n(\n|--)`)

// messageID is the Message-ID of a corpus message.
func messageID(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := mail.ReadMessage(f)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(m.Header.Get("Message-ID"))
}

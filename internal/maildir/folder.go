package maildir

import (
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// FolderDir returns the Maildir++ directory name (".Name", mUTF-7 encoded as
// Dovecot's maildir layout stores it) for a folder name, or "" for INBOX.
// ok is false when the name is not one safe path component: it contains '/',
// NUL or control characters, starts or ends with '.', contains "..", is not
// valid UTF-8, or is longer than 255 bytes on disk. Callers deliver such
// messages to INBOX. A '.' inside the name is Maildir++'s hierarchy
// separator ("Lists.go" is a child of "Lists").
func FolderDir(name string) (dir string, ok bool) {
	if name == "" || strings.EqualFold(name, "INBOX") {
		return "", true
	}
	if !utf8.ValidString(name) || strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") ||
		strings.Contains(name, "..") || strings.ContainsRune(name, '/') {
		return "", false
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return "", false
		}
	}
	enc := "." + encodeMUTF7(name)
	if len(enc) > 255 {
		return "", false
	}
	return enc, true
}

// encodeMUTF7 encodes s in IMAP's modified UTF-7 (RFC 3501 section 5.1.3),
// the form Dovecot uses for maildir folder names on disk.
func encodeMUTF7(s string) string {
	var b strings.Builder
	var run []rune
	flush := func() {
		if len(run) == 0 {
			return
		}
		b.WriteByte('&')
		u := utf16.Encode(run)
		buf := make([]byte, 0, 2*len(u))
		for _, c := range u {
			buf = append(buf, byte(c>>8), byte(c))
		}
		b.WriteString(mBase64(buf))
		b.WriteByte('-')
		run = run[:0]
	}
	for _, r := range s {
		switch {
		case r == '&':
			flush()
			b.WriteString("&-")
		case r >= 0x20 && r <= 0x7e:
			flush()
			b.WriteRune(r)
		default:
			run = append(run, r)
		}
	}
	flush()
	return b.String()
}

// mBase64 is base64 with ',' for '/' and no padding.
func mBase64(p []byte) string {
	const alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,"
	var b strings.Builder
	for i := 0; i < len(p); i += 3 {
		var v uint32
		n := len(p) - i
		if n > 3 {
			n = 3
		}
		for j := 0; j < 3; j++ {
			v <<= 8
			if j < n {
				v |= uint32(p[i+j])
			}
		}
		for j := 0; j < n+1; j++ {
			b.WriteByte(alpha[(v>>uint(18-6*j))&0x3f])
		}
	}
	return b.String()
}

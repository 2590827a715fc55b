package message_test

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"

	"maildeliver/internal/message"
)

// benchMessage is a plain-text message of size bytes with a typical header
// section (a Received trail and a Delivered-To of another recipient, so
// that the loop check has something to compare), LF or CRLF line endings.
func benchMessage(size int, crlf bool) []byte {
	var b strings.Builder
	b.WriteString("Received: from mx.example.net (mx.example.net [192.0.2.1])\n\tby relay.example.org (Postfix) with ESMTPS id 4XyZ\n\tfor <u0@d0.example>; Mon, 01 Jan 2024 00:00:00 +0000\n")
	b.WriteString("Delivered-To: someone-else@example.org\n")
	b.WriteString("From: Bench Sender <sender@example.net>\nTo: Bench Box <u0@d0.example>\n")
	b.WriteString("Subject: maildeliver benchmark\nDate: Mon, 01 Jan 2024 00:00:00 +0000\n")
	b.WriteString("Message-ID: <bench@example.net>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\n")
	const line = "Lorem ipsum dolor sit amet, consectetur adipiscing elit 0123456789 abcdefghij\n"
	for b.Len() < size {
		b.WriteString(line)
	}
	msg := []byte(b.String()[:size-1] + "\n")
	if crlf {
		msg = bytes.ReplaceAll(msg, []byte("\n"), []byte("\r\n"))
	}
	return msg
}

// BenchmarkParsePrependCopy is the CPU side of one delivery: parse the
// header section, build the recipient's header (For), write the prepended
// fields and the header, and copy the body (to io.Discard: no disk).
// crlf is what lmtpd receives on the wire; lf is what pipe(8) hands deliver.
func BenchmarkParsePrependCopy(b *testing.B) {
	for _, c := range []struct {
		name string
		size int
		crlf bool
	}{
		{"4k-lf", 4096, false}, {"4k-crlf", 4096, true},
		{"100k-lf", 102400, false}, {"100k-crlf", 102400, true},
	} {
		msg := benchMessage(c.size, c.crlf)
		prefix := []byte("Return-Path: <sender@example.net>\nDelivered-To: u0@d0.example\n")
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				h, body, err := message.Parse(bytes.NewReader(msg))
				if err != nil {
					b.Fatal(err)
				}
				fields, loop := h.For("u0@d0.example")
				if loop {
					b.Fatal("unexpected loop")
				}
				io.Discard.Write(prefix)
				io.Discard.Write(fields)
				if _, err := io.Copy(io.Discard, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// folded is a header section of fields fields, each about size bytes of
// "\tx" continuation lines, then a short body.
func folded(fields, size int) []byte {
	var b bytes.Buffer
	for i := 0; i < fields; i++ {
		fmt.Fprintf(&b, "X-Folded-%d: start\n", i)
		for n := 0; n < size; n += 3 {
			b.WriteString("\tx\n")
		}
	}
	b.WriteString("Subject: s\n\nbody\n")
	return b.Bytes()
}

// BenchmarkParseFolded: the hostile shapes of issue 17 (1 MB of "\tx"
// continuation lines: 90 s of CPU when unfolding was quadratic; ten
// 100 KB folded fields, which Postfix passes: 5.7-12 s) and a 20 MB
// header line. All must be linear: ns/op per byte as for a plain message.
func BenchmarkParseFolded(b *testing.B) {
	for _, c := range []struct {
		name string
		msg  []byte
	}{
		{"1MB-continuations", folded(1, 1<<20-64)},
		{"ten-100KB-fields", folded(10, 100<<10)},
		{"20MB-line", append(append([]byte("X-Long: "), bytes.Repeat([]byte("a"), 20<<20)...), "\n\nbody\n"...)},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.msg)))
			for b.Loop() {
				h, body, err := message.Parse(bytes.NewReader(c.msg))
				if err != nil {
					b.Fatal(err)
				}
				h.For("u0@d0.example")
				if _, err := io.Copy(io.Discard, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReadSpooledBody is lmtpd's path for one message and one
// recipient: message.Read on the spooled message (in memory), the
// recipient's fields, and its body read back (to io.Discard: no disk).
func BenchmarkReadSpooledBody(b *testing.B) {
	for _, size := range []int{4096, 102400} {
		msg := benchMessage(size, false)
		b.Run(fmt.Sprintf("%dk", size/1024), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				m, err := message.Read(bytes.NewReader(msg), int64(len(msg)))
				if err != nil {
					b.Fatal(err)
				}
				fields, _ := m.Header.For("u0@d0.example")
				io.Discard.Write(fields)
				body, err := m.Body()
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

package quotastatus

import (
	"bufio"
	"errors"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// postfixRequest is what Postfix 3.7 sends at RCPT (SMTPD_POLICY_README).
const postfixRequest = "request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n" +
	"client_address=192.0.2.1\nclient_name=mail.example.net\nreverse_client_name=mail.example.net\n" +
	"helo_name=mail.example.net\nsender=s@example.net\nrecipient=alice@domain.org\n" +
	"recipient_count=0\nqueue_id=\ninstance=1b2c.6560a1b2.3c4d5.0\nsize=12345\n" +
	"etrn_domain=\nstress=\nsasl_method=\nsasl_username=\nsasl_sender=\nccert_subject=\n" +
	"ccert_issuer=\nccert_fingerprint=\nencryption_protocol=\nencryption_cipher=\n" +
	"encryption_keysize=0\nserver_address=192.0.2.25\nserver_port=25\npolicy_context=\n" +
	"compatibility_level=3.6\nmail_version=3.7.11\n\n"

func TestReadRequest(t *testing.T) {
	long := strings.Repeat("x", MaxLine)
	for _, tc := range []struct {
		name  string
		in    string
		attrs map[string]string // checked when non-nil
		err   error             // nil, ErrMalformed, io.EOF, ...
	}{
		{"postfix", postfixRequest, nil, nil},
		{"minimal", "recipient=a@b\n\n", map[string]string{"recipient": "a@b"}, nil},
		{"crlf", "recipient=a@b\r\nsize=10\r\n\r\n", map[string]string{"recipient": "a@b", "size": "10"}, nil},
		{"value with =", "recipient=a=b@c\nx=\n\n", map[string]string{"recipient": "a=b@c", "x": ""}, nil},
		{"empty request", "\n", map[string]string{}, nil},
		{"no =", "recipient=a@b\ngarbage\n\n", nil, ErrMalformed},
		{"no name", "=v\n\n", nil, ErrMalformed},
		{"repeated", "recipient=a@b\nrecipient=c@d\n\n", nil, ErrMalformed},
		{"NUL", "recipient=a\x00b\n\n", nil, ErrMalformed},
		{"CR inside", "recipient=a@b\r\r\n\n", nil, ErrMalformed},
		{"long line", "recipient=a@b\nx=" + long + "\n\n", nil, ErrMalformed},
		{"too many", manyAttrs(MaxAttributes+1) + "\n", nil, ErrMalformed},
		{"clean EOF", "", nil, io.EOF},
		{"EOF inside", "recipient=a@b\n", nil, io.ErrUnexpectedEOF},
		{"EOF inside a line", "recipient=a@", nil, io.ErrUnexpectedEOF},
		{"endless line", strings.Repeat("y", MaxRequest+MaxLine), nil, ErrTooLarge},
		{"endless request", manyLines(MaxRequest/10 + 1), nil, ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := ReadRequest(NewReader(strings.NewReader(tc.in)))
			if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if tc.attrs != nil && !maps.Equal(req.Attrs, tc.attrs) {
				t.Errorf("attrs = %v, want %v", req.Attrs, tc.attrs)
			}
		})
	}
}

// manyAttrs is n distinct name=value lines.
func manyAttrs(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString("n" + strconv.Itoa(i) + "=v\n")
	}
	return b.String()
}

// manyLines is n ten-byte lines with no blank line.
func manyLines(n int) string { return strings.Repeat("abcd=efgh\n", n) }

// After a malformed request, the connection is still in step: the next
// request reads as it should.
func TestReadRequestStaysInStep(t *testing.T) {
	in := "recipient=a@b\nbroken\nx=" + strings.Repeat("z", 3*MaxLine) + "\n\n" + "recipient=c@d\nsize=7\n\n"
	r := NewReader(strings.NewReader(in))
	if _, err := ReadRequest(r); !errors.Is(err, ErrMalformed) {
		t.Fatalf("first: %v, want ErrMalformed", err)
	}
	req, err := ReadRequest(r)
	if err != nil || req.Recipient() != "c@d" {
		t.Fatalf("second: %v %v", req.Attrs, err)
	}
	if n, err := req.Size(); n != 7 || err != nil {
		t.Errorf("size = %d, %v", n, err)
	}
	if _, err := ReadRequest(r); err != io.EOF {
		t.Errorf("third: %v, want io.EOF", err)
	}
}

func TestSize(t *testing.T) {
	for in, want := range map[string]int64{"": 0, "0": 0, "12345": 12345, "9223372036854775807": 1<<63 - 1} {
		if n, err := (Request{Attrs: map[string]string{"size": in}}).Size(); n != want || err != nil {
			t.Errorf("size=%q: %d, %v", in, n, err)
		}
	}
	for _, in := range []string{"-1", "+5", "1e3", "x", "9223372036854775808", " 5"} {
		if _, err := (Request{Attrs: map[string]string{"size": in}}).Size(); !errors.Is(err, ErrMalformed) {
			t.Errorf("size=%q: %v, want ErrMalformed", in, err)
		}
	}
}

// FuzzReadRequest: any input, read as a stream of requests, never panics,
// consumes it all with bounded reads, and every request read without
// error has attributes that encode back to an equal request.
func FuzzReadRequest(f *testing.F) {
	for _, s := range []string{postfixRequest, "recipient=a@b\n\n", "a=b\r\n\r\nc=d\n\n", "x\n\n", "=\n\n", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(strings.NewReader(string(data)))
		for range len(data) + 1 {
			req, err := ReadRequest(r)
			if err != nil && !errors.Is(err, ErrMalformed) {
				return
			}
			if err != nil {
				continue
			}
			var b strings.Builder
			for _, k := range slices.Sorted(maps.Keys(req.Attrs)) {
				v := req.Attrs[k]
				if k == "" || strings.ContainsAny(k, "=\n\x00") || strings.ContainsAny(v, "\n\x00") {
					t.Fatalf("bad attribute %q=%q", k, v)
				}
				b.WriteString(k + "=" + v + "\n")
			}
			b.WriteString("\n")
			again, err := ReadRequest(bufio.NewReaderSize(strings.NewReader(b.String()), MaxLine))
			if err != nil || !maps.Equal(again.Attrs, req.Attrs) {
				t.Fatalf("round trip: %v %v, want %v", again.Attrs, err, req.Attrs)
			}
		}
		if _, err := r.ReadByte(); err != io.EOF {
			t.Fatalf("input left unread")
		}
	})
}

package sieve

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
)

// BuildVacationReply writes the reply message for v (RFC 5230 section 5,
// RFC 3834 section 3): From the recipient (or :from), To the sender,
// Subject as decided, In-Reply-To/References to the original,
// Auto-Submitted: auto-replied, and the reason as a UTF-8 text body (or,
// with :mime, as the MIME entity the script wrote).
func BuildVacationReply(v Vacation, orig *Message, recipient, hostname string, now time.Time) ([]byte, error) {
	var h mail.Header
	from := v.From
	if from == "" {
		from = "<" + recipient + ">"
	}
	h.Set("From", from)
	h.SetAddressList("To", []*mail.Address{replyTo(v, orig)})
	h.SetSubject(v.Subject)
	h.SetDate(now)
	h.Set("Message-ID", newMessageID(hostname))
	if id := strings.TrimSpace(orig.Header("Message-ID")); id != "" {
		h.Set("In-Reply-To", id)
		refs := strings.TrimSpace(orig.Header("References"))
		if refs != "" {
			refs += " "
		}
		h.Set("References", refs+id)
	}
	h.Set("Auto-Submitted", "auto-replied (vacation)")
	h.Set("Precedence", "bulk")
	h.Set("X-Auto-Response-Suppress", "All")
	h.Set("MIME-Version", "1.0")
	var buf bytes.Buffer
	if v.Mime {
		// The reason is a MIME entity: its own header fields follow ours.
		if err := writeHeader(&buf, h.Header); err != nil {
			return nil, err
		}
		body := strings.ReplaceAll(strings.ReplaceAll(v.Body, "\r\n", "\n"), "\n", "\r\n")
		buf.WriteString(body)
		return buf.Bytes(), nil
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Transfer-Encoding", "quoted-printable")
	w, err := message.CreateWriter(&buf, h.Header)
	if err != nil {
		return nil, err
	}
	if _, err := io.WriteString(w, strings.ReplaceAll(v.Body, "\n", "\r\n")); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeHeader writes only the header block, without the empty line that
// ends it (the :mime reason brings its own fields and that line).
func writeHeader(w *bytes.Buffer, h message.Header) error {
	var tmp bytes.Buffer
	mw, err := message.CreateWriter(&tmp, h)
	if err != nil {
		return err
	}
	mw.Close()
	w.Write(bytes.TrimSuffix(tmp.Bytes(), []byte("\r\n")))
	return nil
}

func newMessageID(hostname string) string {
	var b [12]byte
	rand.Read(b[:])
	if hostname == "" {
		hostname = "localhost"
	}
	return fmt.Sprintf("<maildeliver-sieve-%s@%s>", hex.EncodeToString(b[:]), hostname)
}

// replyTo is the reply's To field: the original From (with its display
// name) when it is the envelope sender being answered, else the envelope
// sender alone, as Pigeonhole writes it.
func replyTo(v Vacation, orig *Message) *mail.Address {
	if from, err := mail.ParseAddress(orig.Header("From")); err == nil && strings.EqualFold(from.Address, v.To) {
		return from
	}
	return &mail.Address{Address: v.To}
}

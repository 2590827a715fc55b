package sieve

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"maildeliver/internal/privilege"
)

// Outbox sends a message that Sieve makes: a redirected copy or a
// vacation reply. from "" is the null sender.
type Outbox interface {
	Send(ctx context.Context, from string, to []string, msg []byte) error
}

// ReaderOutbox is an Outbox that sends a message as it reads it: a
// redirected copy of a large message is never in memory whole. Both of
// ours are.
type ReaderOutbox interface {
	Outbox
	SendReader(ctx context.Context, from string, to []string, msg io.Reader) error
}

// SMTPOutbox submits over SMTP to submission_host (normally Postfix on
// 127.0.0.1:25), which queues, retries and bounces.
type SMTPOutbox struct {
	Addr     string // host:port
	Hostname string // EHLO name
	Timeout  time.Duration
}

// Send implements Outbox. A reply the server refuses is returned as
// *smtp.SMTPError so the caller can tell 4xx from 5xx.
func (o SMTPOutbox) Send(ctx context.Context, from string, to []string, msg []byte) error {
	return o.SendReader(ctx, from, to, bytes.NewReader(msg))
}

// SendReader implements ReaderOutbox: Send with the message read from msg.
func (o SMTPOutbox) SendReader(ctx context.Context, from string, to []string, msg io.Reader) error {
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", o.Addr)
	if err != nil {
		return fmt.Errorf("submission_host %s: %w", o.Addr, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	c := smtp.NewClient(conn)
	defer c.Close()
	name := o.Hostname
	if name == "" {
		name = "localhost"
	}
	if err := c.Hello(name); err != nil {
		return fmt.Errorf("submission_host %s: EHLO: %w", o.Addr, err)
	}
	if err := c.Mail(from, nil); err != nil {
		return fmt.Errorf("submission_host %s: MAIL FROM:<%s>: %w", o.Addr, from, err)
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt, nil); err != nil {
			return fmt.Errorf("submission_host %s: RCPT TO:<%s>: %w", o.Addr, rcpt, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("submission_host %s: DATA: %w", o.Addr, err)
	}
	if _, err := io.Copy(w, msg); err != nil {
		w.Close()
		return fmt.Errorf("submission_host %s: DATA: %w", o.Addr, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("submission_host %s: end of DATA: %w", o.Addr, err)
	}
	return c.Quit()
}

// SendmailOutbox runs sendmail_path (Postfix's sendmail), as Pigeonhole
// does without a submission_host.
type SendmailOutbox struct {
	// Path is the program and, split at blanks as Dovecot splits its
	// sendmail_path, its first arguments: "/usr/sbin/sendmail -C
	// /etc/postfix-out" for a second Postfix instance.
	Path string
	// UID and GID, when not 0, are the user sendmail runs as (the
	// mailbox owner: Mailer.ForUser sets them), see privilege.RunCommand.
	UID, GID int
}

// sendmailEnv is sendmail's whole environment: nothing of lmtpd's (or of
// whoever ran deliver) but a PATH, as Pigeonhole's program client clears
// it; MAIL_CONFIG, which picks a Postfix instance, is the administrator's
// and is passed on.
func sendmailEnv() []string {
	env := []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	if c, ok := os.LookupEnv("MAIL_CONFIG"); ok {
		env = append(env, "MAIL_CONFIG="+c)
	}
	return env
}

// Send implements Outbox: `sendmail [ARGS] -i -f FROM -- TO...` with the
// message on stdin, as UID/GID when set; a non-zero exit is an error
// carrying sendmail's stderr.
func (o SendmailOutbox) Send(ctx context.Context, from string, to []string, msg []byte) error {
	return o.SendReader(ctx, from, to, bytes.NewReader(msg))
}

// SendReader implements ReaderOutbox: Send with the message read from msg.
func (o SendmailOutbox) SendReader(ctx context.Context, from string, to []string, msg io.Reader) error {
	if from == "" {
		from = "<>"
	}
	argv := strings.Fields(o.Path)
	if len(argv) == 0 {
		return errors.New("sendmail_path is empty")
	}
	args := append(append(argv[1:len(argv):len(argv)], "-i", "-f", from, "--"), to...)
	cmd := exec.CommandContext(ctx, argv[0], args...)
	cmd.Stdin = msg
	cmd.Env = sendmailEnv()
	cmd.Dir = "/"
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	var err error
	if o.UID != 0 {
		err = privilege.RunCommand(cmd, o.UID, o.GID)
	} else {
		err = cmd.Run()
	}
	if err != nil {
		return fmt.Errorf("%s: %w: %s", argv[0], err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// RedirectedHeader is the field maildeliver prepends to a redirected
// message, naming the recipient whose script redirected it; a message
// that already carries it for the same recipient is not redirected again
// (a loop between two users' redirects).
const RedirectedHeader = "X-Maildeliver-Redirected-By"

// ErrRedirectLoop: the message was already redirected by this recipient
// or was already delivered to the target.
var ErrRedirectLoop = errors.New("redirect loop")

// Mailer performs the outgoing actions of a plan.
type Mailer struct {
	Outbox   Outbox
	Hostname string
	// EnvelopeFrom is redirect_envelope_from: sender, recipient,
	// orig_recipient, user_email, postmaster or an address.
	EnvelopeFrom string
	// Postmaster is postmaster_address ("" = postmaster@<recipient domain>).
	Postmaster string
	Now        func() time.Time
}

// ForUser returns m sending as the user uid/gid where that matters: with
// sendmail_path, sendmail runs as the mailbox owner (SMTP to
// submission_host is the same for every user).
func (m *Mailer) ForUser(uid, gid int) *Mailer {
	o, ok := m.Outbox.(SendmailOutbox)
	if !ok {
		return m
	}
	c := *m
	o.UID, o.GID = uid, gid
	c.Outbox = o
	return &c
}

// Redirect sends raw (with the plan's header edits already applied) on
// to r.Address, with our loop-protection field prepended, unless
// RedirectLoop refuses it. userEmail is the user's canonical address (for
// redirect_envelope_from = user_email).
func (m *Mailer) Redirect(ctx context.Context, raw []byte, r Redirect, env Envelope, userEmail string) error {
	return m.RedirectReader(ctx, raw, bytes.NewReader(raw), r, env, userEmail)
}

// RedirectReader is Redirect of the message msg reads, whose header
// section is header (for the loop check): through a ReaderOutbox the
// message is sent as it is read.
func (m *Mailer) RedirectReader(ctx context.Context, header []byte, msg io.Reader, r Redirect, env Envelope, userEmail string) error {
	if err := RedirectLoop(header, r, env); err != nil {
		return err
	}
	out := io.MultiReader(strings.NewReader(RedirectedHeader+": "+env.To+"\r\n"), msg)
	from := m.redirectFrom(env, userEmail)
	if ro, ok := m.Outbox.(ReaderOutbox); ok {
		return ro.SendReader(ctx, from, []string{r.Address}, out)
	}
	b, err := io.ReadAll(out)
	if err != nil {
		return err
	}
	return m.Outbox.Send(ctx, from, []string{r.Address}, b)
}

// RedirectLoop returns an ErrRedirectLoop when the message (raw: its
// header is enough) was already redirected by env.To or already delivered
// to r.Address (a Delivered-To field: the caller adds the recipient's
// own, so a redirect to oneself is caught before it is sent). Pigeonhole
// then drops the redirect ("discarded duplicate forward") and keeps the
// message: the caller does the same.
func RedirectLoop(raw []byte, r Redirect, env Envelope) error {
	msg := NewMessage(raw)
	vals, _ := msg.HeaderGet(RedirectedHeader)
	// Pigeonhole marks its redirects with X-Sieve-Redirected-From: mail
	// redirected before a site switched counts too.
	pigeonhole, _ := msg.HeaderGet("X-Sieve-Redirected-From")
	for _, v := range append(vals, pigeonhole...) {
		if strings.EqualFold(strings.TrimSpace(v), env.To) {
			return fmt.Errorf("%w: already redirected by <%s>", ErrRedirectLoop, env.To)
		}
	}
	dtos, _ := msg.HeaderGet("Delivered-To")
	for _, v := range dtos {
		if strings.EqualFold(strings.TrimSpace(v), r.Address) {
			return fmt.Errorf("%w: already delivered to <%s>", ErrRedirectLoop, r.Address)
		}
	}
	return nil
}

// redirectFrom applies redirect_envelope_from like Pigeonhole's
// sieve_redirect_envelope_from; the null sender stays null for "sender".
func (m *Mailer) redirectFrom(env Envelope, userEmail string) string {
	switch m.EnvelopeFrom {
	case "", "sender":
		return env.From
	case "recipient":
		return env.To
	case "orig_recipient":
		return env.EnvelopeTo()
	case "user_email":
		if userEmail != "" {
			return userEmail
		}
		return env.To
	case "postmaster":
		return m.postmaster(env)
	default:
		return strings.Trim(m.EnvelopeFrom, "<>")
	}
}

func (m *Mailer) postmaster(env Envelope) string {
	if m.Postmaster != "" {
		return m.Postmaster
	}
	_, dom, _ := strings.Cut(env.To, "@")
	return "postmaster@" + dom
}

// SendVacation sends the reply for v unless a rule suppresses it or one
// was sent to this sender with this handle within the period (rec). It
// reports whether a reply went out. The reply's envelope sender is null
// (RFC 3834 section 3.3), so it cannot start a loop of replies.
func (m *Mailer) SendVacation(ctx context.Context, v Vacation, orig *Message, env Envelope, rec *Record) (bool, error) {
	if v.Suppressed != "" {
		return false, nil
	}
	key := v.Handle + "\x00" + strings.ToLower(v.To)
	if rec != nil {
		seen, err := rec.Seen(key)
		if err != nil {
			return false, err
		}
		if seen {
			return false, nil
		}
	}
	now := time.Now
	if m.Now != nil {
		now = m.Now
	}
	reply, err := BuildVacationReply(v, orig, env.To, m.Hostname, now())
	if err != nil {
		return false, err
	}
	if err := m.Outbox.Send(ctx, "", []string{v.To}, reply); err != nil {
		return false, err
	}
	if rec != nil {
		if err := rec.Mark(key, time.Duration(v.Seconds)*time.Second); err != nil {
			return true, err
		}
	}
	return true, nil
}

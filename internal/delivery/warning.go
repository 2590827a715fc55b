package delivery

import (
	"fmt"
	"io"
	"log/slog"
	"mime"
	"os"
	"strconv"
	"strings"
	"time"

	"maildeliver/internal/config"
	"maildeliver/internal/maildir"
	"maildeliver/internal/quota"
)

// builtinWarning is the warning message when [quota] warning_message is
// "" (the same syntax as a template file).
var builtinWarning = func() *config.WarningTemplate {
	t, err := config.ParseWarningTemplate(`Subject: Your mailbox is %{percent}% full

Your mailbox %u has reached %{percent}% of its quota:
%{usage} of %{limit} are in use.

When it is full, new mail to it is refused or delayed. Please delete
or archive the messages you no longer need, and empty the Trash.
`)
	if err != nil {
		panic("built-in quota warning: " + err.Error())
	}
	return t
}()

// warnQuota delivers the one warning of a crossing into the INBOX of d,
// the way the message itself was delivered: as the mailbox owner (the
// caller runs under privilege.Run), durably, through maildir.Deliver.
// Its size is added to maildirsize, like dovecot-lda run by Dovecot's
// quota-warning script with quota enforcement off: never refused, always
// counted, never itself the cause of another warning. A failure is
// logged: the delivery that crossed is done either way.
func (a *Agent) warnQuota(d *maildir.Dir, t *Target, deliveryID string, c *quota.Crossing) {
	id := NewID()
	attrs := []any{slog.String("id", deliveryID), slog.String("warning_id", id),
		slog.String("to", t.Recipient), slog.String("threshold", c.Warning.String()),
		slog.String("resource", c.Resource), slog.Int64("usage", c.Usage), slog.Int64("limit", c.Limit)}
	msg, err := a.warningMessage(t, c, id, time.Now())
	if err != nil {
		a.log.Error("quota warning not delivered", append(attrs, slog.String("error", err.Error()))...)
		return
	}
	f, err := d.Folder("", false)
	if err != nil {
		a.log.Error("quota warning not delivered", append(attrs, slog.String("error", err.Error()))...)
		return
	}
	defer f.Close()
	w, err := a.writeString(f, msg)
	if err != nil {
		a.log.Error("quota warning not delivered", append(attrs, slog.String("error", err.Error()))...)
		return
	}
	if err := quota.Add(d.Root(), t.Quota, w.Size, 1); err != nil {
		a.log.Warn("maildirsize update failed", "id", id, "to", t.Recipient, "error", err)
	}
	a.log.Info("quota warning", append(attrs, slog.String("folder", "INBOX"), slog.String("file", w.Name),
		slog.Int64("size", w.Size))...)
}

// warningMessage is the complete warning, trace fields first: from the
// template of [quota] warning_message or the built-in one, with the
// fields maildeliver always writes (From and Subject only when the
// template has none). The address is the user's canonical one.
func (a *Agent) warningMessage(t *Target, c *quota.Crossing, id string, now time.Time) (string, error) {
	addr := t.Recipient
	if t.User != nil && t.User.Address != "" {
		addr = t.User.Address
	}
	local, domain := addr, ""
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		local, domain = addr[:i], addr[i+1:]
	}
	vars := map[string]string{
		"u": addr, "user": addr, "n": local, "username": local, "d": domain, "domain": domain,
		"percent": strconv.FormatInt(c.Warning.Percent, 10), "resource": c.Resource,
		"usage": amount(c.Resource, c.Usage), "limit": amount(c.Resource, c.Limit),
	}
	tmpl := a.cfg.WarningTemplate()
	if tmpl == nil {
		tmpl = builtinWarning
	}
	x, err := tmpl.Expand(vars)
	if err != nil {
		return "", err
	}
	if domain == "" {
		domain = a.cfg.Hostname
	}
	var b strings.Builder
	user := *t
	user.Recipient = addr // Delivered-To: the user, also when mail came through an alias
	b.WriteString(a.prefix(&user, Request{}))
	if !x.HasField("From") {
		b.WriteString("From: Mail Delivery System <postmaster@" + domain + ">\n")
	}
	b.WriteString("To: <" + addr + ">\n")
	if !x.HasField("Subject") {
		b.WriteString("Subject: Mailbox quota warning\n")
	}
	b.WriteString("Date: " + now.Format(time.RFC1123Z) + "\n")
	b.WriteString("Message-ID: <" + id + ".quota-warning@" + a.cfg.Hostname + ">\n")
	b.WriteString("Auto-Submitted: auto-generated\n") // RFC 3834: no auto-replies to it
	for _, f := range x.Fields {
		b.WriteString(encodeSubject(f) + "\n")
	}
	for _, f := range []string{"MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8",
		"Content-Transfer-Encoding: 8bit"} {
		if name, _, _ := strings.Cut(f, ":"); !x.HasField(name) {
			b.WriteString(f + "\n")
		}
	}
	b.WriteString("\n")
	b.WriteString(x.Body)
	if !strings.HasSuffix(x.Body, "\n") {
		b.WriteString("\n")
	}
	return b.String(), nil
}

// encodeSubject writes a Subject field with non-ASCII text as an RFC 2047
// encoded word, which every reader decodes; other fields stay as written.
func encodeSubject(f string) string {
	name, value, _ := strings.Cut(f, ":")
	if !strings.EqualFold(name, "Subject") || isASCII(value) {
		return f
	}
	value = strings.Join(strings.Fields(value), " ")
	return name + ": " + mime.QEncoding.Encode("utf-8", value)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// amount writes a usage or limit for people: "820 MiB", "1000 messages".
func amount(resource string, n int64) string {
	if resource == "messages" {
		if n == 1 {
			return "1 message"
		}
		return strconv.FormatInt(n, 10) + " messages"
	}
	units := []string{"bytes", "KiB", "MiB", "GiB", "TiB"}
	v, u := float64(n), 0
	for v >= 1024 && u < len(units)-1 {
		v /= 1024
		u++
	}
	if u == 0 {
		return fmt.Sprintf("%d bytes", n)
	}
	return strings.TrimSuffix(strings.TrimSuffix(fmt.Sprintf("%.1f", v), "0"), ".") + " " + units[u]
}

// writeString writes a message of our own (a quota warning) into f: no
// quota reservation, it is accounted afterwards like any Add.
func (a *Agent) writeString(f *maildir.Folder, msg string) (maildir.Written, error) {
	draft, err := f.Create(a.namer, os.FileMode(a.cfg.Mail.FileMode))
	if err != nil {
		return maildir.Written{}, err
	}
	defer draft.Abort()
	if _, err := io.WriteString(draft, msg); err != nil {
		return maildir.Written{}, err
	}
	if _, err := draft.Finish(time.Time{}); err != nil {
		return maildir.Written{}, err
	}
	return draft.Commit("", a.commit)
}

// Package mailimport owns deliver -import: many saved messages for one
// recipient, in one process, after one userdb lookup, each written by the
// delivery core's own write path (delivery.Agent.Import: durable, quota
// checked, maildirsize kept, one log line per message).
//
// Sources, told apart by what they are:
//
//   - a directory with cur/ or new/ is a maildir: the messages of its cur/
//     and new/, then those of each Maildir++ folder (".Name" with cur/ or
//     new/), which go to the same folder below the destination (INBOX, or
//     -m FOLDER: ".Sent" then goes to "FOLDER.Sent"). The flags of the
//     file name's info (":2,FLAGS", the standard ones D F P R S T) are
//     kept: such a message is stored in cur/ with them, a message of new/
//     in new/. Keyword letters (a-z) are dropped: their meaning is in the
//     source's dovecot-keywords, not ours. The file's mtime, Dovecot's
//     received date, is kept.
//   - a file whose first line is an mbox From_ line is an mbox (see
//     MboxReader for the splitting). Its escaping is mboxrd unless told
//     otherwise (deliver -mbox-format mboxo): the two formats are read the
//     same except for lines starting with two or more '>' and "From ",
//     which mboxrd unescapes and mboxo leaves; the file itself does not
//     say which it is. Reading mboxo as mboxrd alters only such lines
//     (rare: a quoted escaped line); reading mboxrd as mboxo would alter
//     every escaped ">From ", which is more common. The From_ line's date
//     becomes the received date (mtime); the Status and X-Status fields
//     (as mutt, Pine and Dovecot's mbox write them) become flags: Status R
//     is S (seen), X-Status A, F, T, D are R, F, D, T; a message with
//     either field is stored in cur/, without in new/. Content-Length
//     fields (mboxcl, mboxcl2) are not used to split: an mboxcl2 file, which
//     escapes nothing, splits wrongly where a body line is a valid From_ line.
//   - any other file is one message.
//
// A message is stored as it is (line endings as LF), as Dovecot's doveadm
// import keeps it: no Delivered-To, no Received, no loop check (an archived
// message naming this very recipient in Delivered-To is the rule, not a
// loop). The one field added is Return-Path, for an mbox message that has
// none, from its From_ line's sender ("MAILER-DAEMON" is the null sender;
// "-" and what is not an address add nothing), which is what dovecot-lda
// records of an mbox message. [mail] max_message_size does not apply:
// the messages were accepted once; the quota does.
//
// # The import record
//
// A re-run skips what an earlier run imported. The record is the file
// maildeliver-import in the maildir root, owned by the mailbox owner, mode
// 0600, locked (flock) while an import runs (a second import of the same
// mailbox fails, 4.x.x). Its first line is a comment; then one line per
// message imported, appended with one write and fsynced after the message
// is durable:
//
//	<sha256> <file> <folder>
//
// sha256 is the lower-case hex SHA-256 of the message as read from the
// source (after unescaping and LF conversion, before the Return-Path
// this package may add), file the name it was stored under, folder the
// Maildir++ directory it was meant for ("." for INBOX, ".Sent"; the rest
// of the line, spaces included). A message is skipped when the record
// already holds more lines of its digest and folder than this run has met
// so far: identical copies within the sources are all imported once, and
// sources that overlap are not imported twice. A crash between a message
// and its line leaves that message unrecorded, so a re-run stores it again:
// a duplicate, never a loss. A last line without its LF (a torn write) is
// ignored.
//
// # Outcome
//
// Every message is imported, skipped (recorded), or failed. A source that
// cannot be read, or a message that changed between the two reads (one to
// digest it, one to store it), fails alone and the import goes on; a
// failure of the mailbox (quota, disk, ownership, lock) stops the import
// there, since every later message would meet it too, and a re-run resumes
// after the last imported message. The worst failure is the outcome:
// permanent before temporary, else the first.
package mailimport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"maildeliver/internal/delivery"
	"maildeliver/internal/status"
)

// Options are one import's command line.
type Options struct {
	Recipient string
	Folder    string // -m: destination folder, "" = INBOX
	Paths     []string
	Format    Format
	// Progress, if set, gets a progress line redrawn in place (a
	// terminal), at most every ProgressEvery.
	Progress io.Writer
	// Failures gets one line per failed message: its DSN, then where the
	// message is.
	Failures io.Writer
}

// ProgressEvery is how often the progress line is redrawn.
const ProgressEvery = 200 * time.Millisecond

// Summary is an import's outcome.
type Summary struct {
	Imported, Skipped, Failed int
	// Stopped is the mailbox failure that ended the import early, or nil.
	Stopped *status.Error
	// Worst is the worst failure met (nil when none).
	Worst *status.Error
}

func (s Summary) String() string {
	line := fmt.Sprintf("imported=%d skipped=%d failed=%d", s.Imported, s.Skipped, s.Failed)
	if s.Stopped != nil {
		line += " stopped=yes"
	}
	return line
}

// ExitCode is 0 when nothing failed, else the worst failure's code.
func (s Summary) ExitCode() int {
	if s.Worst == nil {
		return status.ExitOK
	}
	return s.Worst.ExitCode()
}

// Run imports the sources for opt.Recipient. The error is a *status.Error
// for what prevents any import (bad path, unknown user, userdb down, the
// record unavailable); otherwise the Summary tells.
func Run(ctx context.Context, a *delivery.Agent, opt Options) (Summary, error) {
	srcs, err := classifySources(opt.Paths)
	if err != nil {
		return Summary{}, err
	}
	t, err := a.Resolve(ctx, opt.Recipient, opt.Folder)
	if err != nil {
		return Summary{}, err
	}
	for _, s := range srcs {
		if s.kind == kindMaildir && sameDir(s.path, t.Maildir) {
			return Summary{}, status.Usage("source " + s.path + " is the recipient's own maildir")
		}
	}
	rec, err := openRecord(t.Maildir, t.UID, t.GID)
	if errors.Is(err, ErrBusy) {
		return Summary{}, status.Temp("another import into this mailbox is running").Wrap(err)
	}
	if err != nil {
		return Summary{}, status.Temp("cannot open the import record in the mailbox").Wrap(err)
	}
	defer rec.close()
	im := &importer{agent: a, target: t, rec: rec, opt: opt, seen: map[string]int{}}
	for _, s := range srcs {
		if im.sum.Stopped != nil {
			break
		}
		im.source(ctx, s)
	}
	im.progress(true)
	return im.sum, nil
}

// importer is the state of one Run.
type importer struct {
	agent  *delivery.Agent
	target *delivery.Target
	rec    *record
	opt    Options
	seen   map[string]int // messages met this run, per record key
	sum    Summary
	drawn  time.Time
	where  string // the source being read, for the progress line
}

// source imports every message of one source.
func (im *importer) source(ctx context.Context, s source) {
	im.where = s.path
	var err error
	switch s.kind {
	case kindMaildir:
		err = im.maildir(ctx, s.path)
	default:
		err = im.file(ctx, s.path)
	}
	if err != nil {
		im.fail(s.path, status.Temp("cannot read the source").Wrap(err))
	}
}

// msg is one message met in a source, digested.
type msg struct {
	where string // for failure lines: path, line or file name
	dir   string // destination Maildir++ directory, "" = INBOX
	meta  meta
	from  *FromLine // mbox only
	mtime time.Time
	info  string // Maildir info to store with, "" = new/
}

// one imports m, whose content the second read yields from content,
// unless the record says an earlier run did.
func (im *importer) one(ctx context.Context, m msg, content io.Reader) {
	if err := ctx.Err(); err != nil {
		im.stop(m.where, status.Temp("import interrupted").Wrap(err))
		return
	}
	recDir := m.dir
	if recDir == "" {
		recDir = "."
	}
	key := m.meta.sum + " " + recDir
	im.seen[key]++
	if im.seen[key] <= im.rec.count(key) {
		im.sum.Skipped++
		im.progress(false)
		return
	}
	t := *im.target
	t.FolderDir, t.Folder = m.dir, folderName(t.Mailbox.Naming.Prefix, m.dir)
	req := delivery.ImportRequest{ID: delivery.NewID(), MessageID: m.meta.messageID, Info: m.info, MTime: m.mtime}
	if m.from != nil {
		req.Sender, req.ReturnPath = m.from.EnvelopeSender()
		req.ReturnPath = req.ReturnPath && !m.meta.returnPath
	}
	res, err := im.agent.Import(ctx, &t, req, &verifyReader{r: content, want: m.meta.sum})
	var se *sourceError
	switch {
	case errors.As(err, &se):
		im.fail(m.where, status.Temp("cannot read the message from the source").Wrap(err))
	case err != nil:
		im.stop(m.where, status.From(err))
	default:
		im.sum.Imported++
		if err := im.rec.add(m.meta.sum, recDir, res.File); err != nil {
			im.stop(m.where, status.Temp("message imported, but the import record could not be written: a re-run imports it again").Wrap(err))
		}
	}
	im.progress(false)
}

// folderName is the name of a Maildir++ directory for logs, as IMAP
// shows it: with the inbox namespace's prefix ("INBOX.Sent").
func folderName(prefix, dir string) string {
	if dir == "" {
		return ""
	}
	return prefix + dir[1:]
}

// fail counts a failed message and says so.
func (im *importer) fail(where string, e *status.Error) {
	im.sum.Failed++
	im.worse(e)
	if im.opt.Failures != nil {
		im.clearProgress()
		fmt.Fprintf(im.opt.Failures, "%s: %s\n", e.DSN(), where)
	}
}

// stop is a failure of the mailbox: it ends the import.
func (im *importer) stop(where string, e *status.Error) {
	im.fail(where, e)
	im.sum.Stopped = e
}

// worse keeps the worst failure: permanent before temporary, else the
// first one.
func (im *importer) worse(e *status.Error) {
	if im.sum.Worst == nil || im.sum.Worst.Temporary() && !e.Temporary() {
		im.sum.Worst = e
	}
}

// progress redraws the progress line, at most every ProgressEvery unless
// last (which clears it).
func (im *importer) progress(last bool) {
	if im.opt.Progress == nil {
		return
	}
	if last {
		im.clearProgress()
		return
	}
	if time.Since(im.drawn) < ProgressEvery {
		return
	}
	im.drawn = time.Now()
	fmt.Fprintf(im.opt.Progress, "\r\x1b[Kimporting %s: %d imported, %d skipped, %d failed",
		filepath.Base(im.where), im.sum.Imported, im.sum.Skipped, im.sum.Failed)
}

func (im *importer) clearProgress() {
	if im.opt.Progress != nil && !im.drawn.IsZero() {
		fmt.Fprint(im.opt.Progress, "\r\x1b[K")
		im.drawn = time.Time{}
	}
}

// sameDir reports whether two paths name the same directory.
func sameDir(a, b string) bool {
	sa, err := os.Stat(a)
	if err != nil {
		return false
	}
	sb, err := os.Stat(b)
	return err == nil && os.SameFile(sa, sb)
}

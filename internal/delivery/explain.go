package delivery

import (
	"context"

	"maildeliver/internal/location"
	"maildeliver/internal/lookup"
	"maildeliver/internal/trace"
)

// What Resolve reports to a trace observer (deliver -explain) beyond the
// lookup's own steps: where each decided value came from.

func traceCanonical(ctx context.Context, format, canon string) {
	if format == "" {
		trace.Step(ctx, "canonical", "<%s> (no [userdb] username_format: as given)", canon)
		return
	}
	trace.Step(ctx, "canonical", "<%s> ([userdb] username_format %q)", canon, format)
}

// ownerSource says where the uid and gid came from.
func ownerSource(u *lookup.User) string {
	src := func(id int64, key string) string {
		if id == lookup.NoID {
			return "[mail] " + key
		}
		return "userdb " + key + " column"
	}
	return "uid from " + src(u.UID, "uid") + ", gid from " + src(u.GID, "gid")
}

func (a *Agent) traceMailbox(ctx context.Context, u *lookup.User, m location.Mailbox) {
	if !trace.On(ctx) {
		return
	}
	from := "[mail] location"
	if u.Mail != "" {
		from = "userdb mail column"
	}
	inbox := ""
	if m.Inbox != "" {
		inbox = ", INBOX " + m.Inbox
	}
	trace.Step(ctx, "maildir", "%s (layout %s, from the %s, home %q%s)", m.Root, m.Naming.Layout, from, u.Home, inbox)
}

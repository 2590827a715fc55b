package quotastatus

import (
	"errors"
	"strings"

	"maildeliver/internal/quota"
	"maildeliver/internal/status"
)

// ActionDunno is the answer that leaves the decision to Postfix's next
// restriction: for a recipient whose message fits, and for everything
// this service cannot tell.
const ActionDunno = "DUNNO"

// Decide turns the outcome of the quota question for one recipient into
// a policy action. Only an over-quota refusal, the one delivery would
// give ([quota] full: 552 5.2.2 bounce, 452 4.2.2 defer), is ever a
// reject; every other outcome is DUNNO: the message fits (nil), the user
// is unknown (Postfix's own recipient checks and the delivery decide), the
// lookup or the mailbox failed, the quota lock was busy, time ran out.
// Never a wrong reject: in doubt, Postfix accepts and delivery decides.
func Decide(err error) string {
	if err == nil || !errors.Is(err, quota.ErrOverQuota) {
		return ActionDunno
	}
	var st *status.Error
	if !errors.As(err, &st) {
		return ActionDunno
	}
	switch {
	case st.Code == status.CodeStorageLimit && st.Enhanced == "5.2.2",
		st.Code == status.CodeTempStorage && st.Enhanced == "4.2.2":
	default:
		return ActionDunno
	}
	return oneLine(st.ReplyLine())
}

// oneLine keeps an action on its line: the protocol ends it at LF.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > 200 {
		s = s[:200]
	}
	return strings.ToValidUTF8(s, "?")
}

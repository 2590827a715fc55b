package interp

import (
	"context"
)

// VacationResponse represents an autoresponse to be sent.
type VacationResponse struct {
	// From is the address to be used in the From header of the autoresponse.
	From string

	// Subject is the subject to be used in the autoresponse.
	Subject string

	// Body is the message body to be used in the autoresponse.
	Body string

	// IsMime indicates that the body is a MIME-formatted message.
	IsMime bool

	// Handle is a handle that uniquely identifies this vacation action.
	Handle string

	// Days specifies the minimum number of days between autoresponses to the same sender.
	Days int

	// Seconds is the period from :seconds (RFC 6131), or Days in seconds.
	Seconds int
	// Addresses are the recipient's own addresses from :addresses.
	Addresses []string
	// Sender is the envelope sender the reply would go to.
	Sender string
}

// CmdVacation represents the vacation command as defined in RFC 5230.
type CmdVacation struct {
	// Days specifies the minimum number of days between autoresponses to the same sender.
	// Default is 7 days if not specified.
	Days int
	// Seconds is :seconds (RFC 6131); -1 when not given.
	Seconds int

	// Subject specifies the subject to be used in the autoresponse.
	// Default is "Automated reply" if not specified.
	Subject string

	// From specifies the address to be used in the From header of the autoresponse.
	// If not specified, the implementation should choose a sensible default.
	From string

	// Addresses specifies additional addresses that are considered "my" addresses.
	// These addresses will not trigger an autoresponse.
	Addresses []string

	// Mime indicates that the reason string is a MIME-formatted message.
	Mime bool

	// Handle specifies a handle that uniquely identifies this vacation action.
	// This can be used to manage multiple vacation responses.
	Handle string

	// Reason is the message body to be used in the autoresponse.
	Reason string
}

// Execute implements the vacation command as defined in RFC 5230.
func (c CmdVacation) Execute(ctx context.Context, d *RuntimeData) error {
	// Whether a reply is sent (null sender, lists, period, own address in
	// To/Cc) is decided by the caller from RFC 3834 and RFC 5230 section 4,
	// which needs the message and a reply record: the interpreter only
	// records what the script asked for (patch: maildeliver). Section 4.7:
	// the reason, subject, from and handle are variables-expanded here.
	seconds := c.Days * 24 * 3600
	if c.Seconds >= 0 {
		seconds = c.Seconds
	}
	resp := VacationResponse{
		From:      expandVars(d, c.From),
		Subject:   expandVars(d, c.Subject),
		Body:      expandVars(d, c.Reason),
		IsMime:    c.Mime,
		Handle:    expandVars(d, c.Handle),
		Days:      c.Days,
		Seconds:   seconds,
		Addresses: expandVarsList(d, c.Addresses),
		Sender:    d.Envelope.EnvelopeFrom(),
	}
	if d.VacationResponses == nil {
		d.VacationResponses = make(map[string]VacationResponse)
	}
	d.VacationResponses[resp.Sender] = resp
	d.Actions = append(d.Actions, Action{Kind: ActionVacation, Vacation: &resp})
	// Per RFC 5230 Section 4: "The vacation action does not cancel the implicit keep."
	return d.countAction()
}

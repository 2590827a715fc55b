package interp

import (
	"context"
	"fmt"
	"strings"
)

type CmdStop struct{}

func (c CmdStop) Execute(_ context.Context, _ *RuntimeData) error {
	return ErrStop
}

type CmdFileInto struct {
	Mailbox string
	Flags   Flags
	Copy    bool // RFC3894 - :copy modifier
	Create  bool // RFC5490 - :create modifier (mailbox extension)
}

func (c CmdFileInto) Execute(_ context.Context, d *RuntimeData) error {
	mailbox := expandVars(d, c.Mailbox)
	found := false
	for _, m := range d.Mailboxes {
		if m == mailbox {
			found = true
		}
	}
	if found {
		return nil
	}
	d.Mailboxes = append(d.Mailboxes, mailbox)
	if err := d.countAction(); err != nil {
		return err
	}

	// RFC 5490: Track mailboxes that should be created
	if c.Create {
		createFound := false
		for _, m := range d.MailboxesCreate {
			if m == mailbox {
				createFound = true
				break
			}
		}
		if !createFound {
			d.MailboxesCreate = append(d.MailboxesCreate, mailbox)
		}
	}

	// RFC3894: If :copy is specified, do not set ImplicitKeep to false
	if !c.Copy {
		d.ImplicitKeep = false
	}

	// RFC 5232 section 5: :flags applies to this fileinto only; without it
	// the current value of the internal flag variable is used.
	flags := d.Flags
	if c.Flags != nil {
		flags = canonicalFlags(expandVarsList(d, c.Flags), nil, d.FlagAliases)
	}
	d.Actions = append(d.Actions, Action{Kind: ActionFileInto, Mailbox: mailbox,
		Flags: append(Flags(nil), flags...), Copy: c.Copy, Create: c.Create, Edits: len(d.HeaderEdits)})
	return nil
}

type CmdRedirect struct {
	Addr string
	Copy bool // RFC3894 - :copy modifier
}

func (c CmdRedirect) Execute(ctx context.Context, d *RuntimeData) error {
	addr := expandVars(d, c.Addr)

	ok, err := d.Policy.RedirectAllowed(ctx, d, addr)
	if err != nil {
		return err
	}
	if !ok {
		return nil
	}
	for _, a := range d.RedirectAddr {
		if strings.EqualFold(a, addr) {
			return nil // RFC 5228 section 2.10.3: duplicate redirects are one
		}
	}
	d.RedirectAddr = append(d.RedirectAddr, addr)
	d.Actions = append(d.Actions, Action{Kind: ActionRedirect, Addr: addr, Copy: c.Copy, Edits: len(d.HeaderEdits)})
	if err := d.countAction(); err != nil {
		return err
	}

	// RFC3894: If :copy is specified, do not set ImplicitKeep to false
	if !c.Copy {
		d.ImplicitKeep = false
	}

	if len(d.RedirectAddr) > d.Script.opts.MaxRedirects {
		return fmt.Errorf("too many redirect actions (limit %d)", d.Script.opts.MaxRedirects)
	}
	return nil
}

type CmdKeep struct {
	Flags Flags
}

func (c CmdKeep) Execute(_ context.Context, d *RuntimeData) error {
	d.Keep = true
	// keep is a non-terminating action - it does NOT cancel implicit keep.
	// RFC 5232 section 5: :flags applies to this keep only.
	flags := d.Flags
	if c.Flags != nil {
		flags = canonicalFlags(expandVarsList(d, c.Flags), nil, d.FlagAliases)
	}
	d.Actions = append(d.Actions, Action{Kind: ActionKeep, Flags: append(Flags(nil), flags...), Edits: len(d.HeaderEdits)})
	return d.countAction()
}

type CmdDiscard struct{}

func (c CmdDiscard) Execute(_ context.Context, d *RuntimeData) error {
	// discard only cancels the implicit keep (RFC 5228 section 4.4); the
	// flag variable is left alone for a later keep/fileinto.
	d.ImplicitKeep = false
	d.Actions = append(d.Actions, Action{Kind: ActionDiscard})
	return nil
}

type CmdSetFlag struct {
	Flags Flags
}

func (c CmdSetFlag) Execute(_ context.Context, d *RuntimeData) error {
	if c.Flags != nil {
		d.Flags = canonicalFlags(expandVarsList(d, c.Flags), nil, d.FlagAliases)
	}
	return nil
}

type CmdAddFlag struct {
	Flags Flags
}

func (c CmdAddFlag) Execute(_ context.Context, d *RuntimeData) error {
	if c.Flags != nil {
		flags := expandVarsList(d, c.Flags)

		// canonicalFlags splits "a b" and removes duplicates, also for
		// the first addflag.
		d.Flags = canonicalFlags(append(append([]string(nil), d.Flags...), flags...), nil, d.FlagAliases)
	}
	return nil
}

type CmdRemoveFlag struct {
	Flags Flags
}

func (c CmdRemoveFlag) Execute(_ context.Context, d *RuntimeData) error {
	if c.Flags != nil {
		// Use canonicalFlags to remove duplicates
		d.Flags = canonicalFlags(d.Flags, expandVarsList(d, c.Flags), d.FlagAliases)
	}
	return nil
}

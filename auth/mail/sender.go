package mail

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Dashboard pages the links open, each reading ?token=; web/src/App.tsx
// routes them. Change both together.
const (
	InvitePath = "/invite/accept"
	VerifyPath = "/verify-email"
	ResetPath  = "/reset-password"
)

// Poster queues a message for delivery; *Outbox is one.
type Poster interface {
	Post(m Message)
}

// Sender writes the control plane's messages, with links into the
// dashboard at its public URL, and posts them.
type Sender struct {
	out  Poster
	base *url.URL
}

// NewSender returns a Sender posting to out, linking to the dashboard at
// base (OAIS_PUBLIC_URL).
func NewSender(out Poster, base *url.URL) *Sender {
	return &Sender{out: out, base: base}
}

// Link returns the dashboard URL of page path carrying token.
func (s *Sender) Link(path, token string) string {
	u := s.base.JoinPath(path)
	u.RawQuery = url.Values{"token": {token}}.Encode()
	u.Fragment = ""
	return u.String()
}

func when(t time.Time) string { return t.UTC().Format("2 January 2006, 15:04 UTC") }

// Invitation is what an invitation says besides its link.
type Invitation struct {
	Workspace string // the workspace's name
	Inviter   string // who invited, by address
	Role      string // OWNER, ADMIN, DEVELOPER or VIEWER
	Token     string
	Expires   time.Time
}

// Invitation mails to an invitation to a workspace. The same message goes
// to an address with or without an account: the page it links to offers
// both sign-in and sign-up.
func (s *Sender) Invitation(to string, inv Invitation) {
	role := strings.ToLower(inv.Role)
	s.out.Post(Message{
		To:      to,
		Subject: fmt.Sprintf("%s invited you to %s on oais", inv.Inviter, inv.Workspace),
		Text: fmt.Sprintf(`%s invited you to join the workspace "%s" on oais as %s.

Accept the invitation:
%s

Sign in, or create an account, with this address (%s) and confirm the
address when asked: the invitation is for it alone. The link works once,
until %s.

If you did not expect this invitation, ignore this message.
`, inv.Inviter, inv.Workspace, role, s.Link(InvitePath, inv.Token), to, when(inv.Expires)),
	})
}

// Verification mails to the link that proves the account's owner reads to.
func (s *Sender) Verification(to, token string, expires time.Time) {
	s.out.Post(Message{
		To:      to,
		Subject: "Confirm your e-mail address for oais",
		Text: fmt.Sprintf(`An oais account was created with this address. If it was you, confirm the
address:
%s

The link works once, until %s. Until the address is confirmed, the account
cannot accept invitations to workspaces.

If you did not sign up, ignore this message.
`, s.Link(VerifyPath, token), when(expires)),
	})
}

// PasswordReset mails to the link that sets a new password.
func (s *Sender) PasswordReset(to, token string, expires time.Time) {
	s.out.Post(Message{
		To:      to,
		Subject: "Reset your oais password",
		Text: fmt.Sprintf(`Someone asked to reset the password of the oais account with this address.
Choose a new password here:
%s

The link works once, until %s. Resetting the password signs the account
out everywhere.

If you did not ask for this, ignore this message: your password stays as
it is.
`, s.Link(ResetPath, token), when(expires)),
	})
}

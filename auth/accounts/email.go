package accounts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/oais/oais/auth"
	"github.com/oais/oais/auth/mail"
	"github.com/oais/oais/ent"
	"github.com/oais/oais/ent/emailtoken"
	"github.com/oais/oais/ent/session"
	"github.com/oais/oais/ent/user"
	"github.com/oais/oais/internal/audit"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/viewer"
)

// Lifetimes and budgets of mailed links.
const (
	// VerifyTTL is how long an address-verification link works.
	VerifyTTL = 48 * time.Hour
	// ResetTTL is how long a password-reset link works.
	ResetTTL = time.Hour
	// MaxLinksPerHour bounds the links of one purpose mailed to one account
	// in an hour, whoever asks and from wherever: past it requests are
	// answered as usual and send nothing, so nobody can flood a mailbox.
	MaxLinksPerHour = 3
)

// Mail sends the account links; *mail.Sender is one.
type Mail interface {
	Verification(to, token string, expires time.Time)
	PasswordReset(to, token string, expires time.Time)
}

// droppedMail stands in when Options.Mail is nil.
type droppedMail struct{ log *slog.Logger }

func (d droppedMail) Verification(to, _ string, _ time.Time) {
	d.log.Warn("accounts: no mail configured, verification link dropped", slog.String("to", to))
}

func (d droppedMail) PasswordReset(to, _ string, _ time.Time) {
	d.log.Warn("accounts: no mail configured, password-reset link dropped", slog.String("to", to))
}

// MailLimits is the mail throttle: 3 link requests per address and client
// and 30 per client in 15 minutes.
func MailLimits() auth.ThrottleConfig {
	return auth.ThrottleConfig{Name: "mail", AccountFailures: 3, IPFailures: 30, Window: 15 * time.Minute}
}

// Defaults of the sign-up throttle (OAIS_SIGNUP_LIMITS).
const (
	// DefaultSignUpsPerAddress is sign-ups per client address an hour.
	DefaultSignUpsPerAddress = 10
	// DefaultSignUpsTotal is sign-ups from every address together a
	// minute: a safety net against a flood from many addresses, which
	// also bounds the memory sign-ups hash with at once (19 MiB each).
	DefaultSignUpsTotal = 20
)

// SignUpLimits is the sign-up throttle: perAddress sign-ups per client
// address an hour and total from everywhere a minute (each a burst, then
// spread evenly).
func SignUpLimits(perAddress, total int) auth.ThrottleConfig {
	return auth.ThrottleConfig{Name: "signup", AccountFailures: -1, IPFailures: perAddress, Window: time.Hour,
		Total: total, TotalWindow: time.Minute}
}

// ParseSSODomains parses OAIS_OIDC_REQUIRE: comma-separated e-mail domains
// (example.com, corp.example) whose addresses sign in only through SSO.
func ParseSSODomains(s string) ([]string, error) {
	var out []string
	for d := range strings.SplitSeq(s, ",") {
		d = strings.ToLower(strings.TrimSpace(d))
		if d == "" {
			continue
		}
		if strings.ContainsAny(d, "@ \t/:") || !strings.Contains(d, ".") && d != "localhost" {
			return nil, fmt.Errorf("%q is not an e-mail domain (want e.g. example.com)", d)
		}
		out = append(out, d)
	}
	return out, nil
}

// ssoOnly reports whether email's domain signs in only through SSO.
func (a *Accounts) ssoOnly(email string) bool {
	_, domain, ok := strings.Cut(strings.ToLower(strings.TrimSpace(email)), "@")
	return ok && slices.Contains(a.opts.SSODomains, domain)
}

// emailLink is a token just stored for a user, to be mailed once its
// transaction commits.
type emailLink struct {
	token   string
	expires time.Time
}

// newLink stores a new token of purpose for u's current address.
func (a *Accounts) newLink(sys context.Context, c *ent.Client, u *ent.User, purpose emailtoken.Purpose) (emailLink, error) {
	token, hash, err := mail.NewToken()
	if err != nil {
		return emailLink{}, err
	}
	ttl := VerifyTTL
	if purpose == emailtoken.PurposeRESET_PASSWORD {
		ttl = ResetTTL
	}
	l := emailLink{token: token, expires: a.opts.Now().Add(ttl)}
	err = c.EmailToken.Create().
		SetPurpose(purpose).SetUserID(u.ID).SetEmail(u.Email).SetTokenHash(hash).
		SetCreatedAt(a.opts.Now()).SetExpiresAt(l.expires).
		Exec(sys)
	return l, err
}

// recentLinks counts u's links of purpose made in the last hour.
func (a *Accounts) recentLinks(sys context.Context, u *ent.User, purpose emailtoken.Purpose) (int, error) {
	return a.client.EmailToken.Query().
		Where(emailtoken.UserID(u.ID), emailtoken.PurposeEQ(purpose), emailtoken.CreatedAtGT(a.opts.Now().Add(-time.Hour))).
		Count(sys)
}

// spendLink uses the token of purpose, once: a conditional update, so of two
// concurrent uses exactly one wins. It returns the token's user, who must
// still have the address it was mailed to and not be disabled.
func (a *Accounts) spendLink(sys context.Context, c *ent.Client, token string, purpose emailtoken.Purpose) (*ent.User, error) {
	hash, ok := mail.TokenHash(token)
	if !ok {
		return nil, ErrLinkInvalid
	}
	now := a.opts.Now()
	n, err := c.EmailToken.Update().
		Where(emailtoken.TokenHash(hash), emailtoken.PurposeEQ(purpose), emailtoken.UsedAtIsNil(), emailtoken.ExpiresAtGT(now)).
		SetUsedAt(now).
		Save(sys)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, ErrLinkInvalid
	}
	t, err := c.EmailToken.Query().Where(emailtoken.TokenHash(hash)).Only(sys)
	if err != nil {
		return nil, err
	}
	u, err := c.User.Get(sys, t.UserID)
	if err != nil {
		return nil, err
	}
	if u.Disabled || u.Email != t.Email {
		return nil, ErrLinkInvalid
	}
	return u, nil
}

// EmailVerified reports whether user userID proved they read their address.
func (a *Accounts) EmailVerified(ctx context.Context, userID string) (bool, error) {
	u, err := a.client.User.Get(viewer.SystemContext(ctx), userID)
	if err != nil {
		return false, fmt.Errorf("accounts: load user: %w", store.Classify(err))
	}
	return u.EmailVerifiedAt != nil, nil
}

// VerifyEmail marks the address that a verification link was mailed to as
// verified. It works signed in or not: the token is the proof. An invalid,
// used or expired link gives ErrLinkInvalid.
func (a *Accounts) VerifyEmail(ctx context.Context, token string) error {
	sys := viewer.SystemContext(ctx)
	err := a.inTx(sys, func(tx *ent.Tx) error {
		u, err := a.spendLink(sys, tx.Client(), token, emailtoken.PurposeVERIFY_EMAIL)
		if err != nil || u.EmailVerifiedAt != nil {
			return err
		}
		if err := tx.User.UpdateOne(u).SetEmailVerifiedAt(a.opts.Now()).Exec(sys); err != nil {
			return err
		}
		return audit.Record(sys, tx.Client(), audit.Event{
			Action: audit.EmailVerified, ActorID: u.ID, ActorEmail: u.Email, IP: audit.IPFrom(ctx),
			TargetType: "user", TargetID: u.ID,
		})
	})
	if errors.Is(err, ErrLinkInvalid) {
		return err
	} else if err != nil {
		return fmt.Errorf("accounts: verify e-mail: %w", store.Classify(err))
	}
	return nil
}

// SendVerification mails user userID a new verification link, unless the
// address is verified already. Throttled per account and client
// (*ThrottledError), and at most MaxLinksPerHour links an hour are sent.
func (a *Accounts) SendVerification(ctx context.Context, userID string, ip netip.Addr) error {
	sys := viewer.SystemContext(ctx)
	u, err := activeUser(sys, a.client, userID)
	if err != nil {
		return err
	}
	if u.EmailVerifiedAt != nil {
		return nil
	}
	if ok, wait := a.mailThrottle.Take(ctx, "verify\x00"+u.ID, ip); !ok {
		return &ThrottledError{RetryAfter: wait}
	}
	if n, err := a.recentLinks(sys, u, emailtoken.PurposeVERIFY_EMAIL); err != nil {
		return fmt.Errorf("accounts: verification: %w", store.Classify(err))
	} else if n >= MaxLinksPerHour {
		a.log.WarnContext(ctx, "accounts: verification link not sent, hourly budget spent", slog.String("user_id", u.ID))
		return nil
	}
	link, err := a.newLink(sys, a.client, u, emailtoken.PurposeVERIFY_EMAIL)
	if err != nil {
		return fmt.Errorf("accounts: verification: %w", store.Classify(err))
	}
	a.mail.Verification(u.Email, link.token, link.expires)
	return nil
}

// RequestPasswordReset mails a reset link to email if it has an active
// account that may use a password. Every address gets the same answer: nil,
// or ErrInvalidEmail for a malformed one, or a *ThrottledError after too
// many requests for the address from ip (counted whether or not it has an
// account). Past MaxLinksPerHour links to one account nothing more is sent.
func (a *Accounts) RequestPasswordReset(ctx context.Context, email string, ip netip.Addr) error {
	raw := strings.ToLower(strings.TrimSpace(email))
	if ok, wait := a.mailThrottle.Take(ctx, raw, ip); !ok {
		return &ThrottledError{RetryAfter: wait}
	}
	e, err := NormalizeEmail(raw)
	if err != nil {
		return err
	}
	if a.ssoOnly(e) {
		return nil
	}
	sys := viewer.SystemContext(ctx)
	u, err := a.client.User.Query().Where(user.Email(e)).Only(sys)
	switch {
	case ent.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("accounts: password reset: %w", store.Classify(err))
	case u.Disabled:
		return nil
	}
	if n, err := a.recentLinks(sys, u, emailtoken.PurposeRESET_PASSWORD); err != nil {
		return fmt.Errorf("accounts: password reset: %w", store.Classify(err))
	} else if n >= MaxLinksPerHour {
		a.log.WarnContext(ctx, "accounts: password-reset link not sent, hourly budget spent", slog.String("user_id", u.ID))
		return nil
	}
	link, err := a.newLink(sys, a.client, u, emailtoken.PurposeRESET_PASSWORD)
	if err != nil {
		return fmt.Errorf("accounts: password reset: %w", store.Classify(err))
	}
	a.mail.PasswordReset(u.Email, link.token, link.expires)
	return nil
}

// ResetPassword sets a new password with a reset link's token. The link
// proves the address, so it is marked verified; every session of the
// account ends (whoever else was signed in is out) and the other reset
// links die; then a new session starts. Errors: ErrLinkInvalid,
// ErrSSORequired, and auth's password errors (checked before the link is
// spent, so a weak password does not burn it).
func (a *Accounts) ResetPassword(ctx context.Context, token, password string, ip netip.Addr) (auth.Tokens, *ent.User, error) {
	hash, err := auth.HashPassword(password)
	if err != nil {
		return auth.Tokens{}, nil, fmt.Errorf("accounts: reset password: %w", err)
	}
	sys := viewer.SystemContext(ctx)
	now := a.opts.Now()
	var u *ent.User
	err = a.inTx(sys, func(tx *ent.Tx) error {
		var err error
		if u, err = a.spendLink(sys, tx.Client(), token, emailtoken.PurposeRESET_PASSWORD); err != nil {
			return err
		}
		if a.ssoOnly(u.Email) {
			return ErrSSORequired
		}
		upd := tx.User.UpdateOne(u).SetPasswordHash(hash).SetLastSignInAt(now)
		if u.EmailVerifiedAt == nil {
			upd.SetEmailVerifiedAt(now)
		}
		if u, err = upd.Save(sys); err != nil {
			return err
		}
		if err := tx.EmailToken.Update().
			Where(emailtoken.UserID(u.ID), emailtoken.PurposeEQ(emailtoken.PurposeRESET_PASSWORD), emailtoken.UsedAtIsNil()).
			SetUsedAt(now).Exec(sys); err != nil {
			return err
		}
		n, err := revokeSessions(sys, tx.Client(), u.ID, "", now)
		if err != nil {
			return err
		}
		return audit.Record(sys, tx.Client(), audit.Event{
			Action: audit.PasswordReset, ActorID: u.ID, ActorEmail: u.Email, IP: ip,
			TargetType: "user", TargetID: u.ID, Details: map[string]string{"sessions_ended": fmt.Sprint(n)},
		})
	})
	if errors.Is(err, ErrLinkInvalid) || errors.Is(err, ErrSSORequired) {
		return auth.Tokens{}, nil, err
	} else if err != nil {
		return auth.Tokens{}, nil, fmt.Errorf("accounts: reset password: %w", store.Classify(err))
	}
	u = u.Unwrap()
	// The link proved the mailbox: this address is the owner's, whatever
	// a credential-stuffing attack did to the account's sign-ins.
	a.throttle.Trust(ctx, u.Email, ip)
	tok, err := a.start(ctx, u, MethodPassword, ip)
	if err != nil {
		return auth.Tokens{}, nil, err
	}
	return tok, u, nil
}

// ChangePassword replaces user userID's password after checking the
// current one, and ends every session of theirs but keepSession (the one
// asking). A wrong current password gives ErrWrongPassword and counts
// against the sign-in throttle (*ThrottledError past it).
func (a *Accounts) ChangePassword(ctx context.Context, userID, keepSession, current, next string, ip netip.Addr) error {
	sys := viewer.SystemContext(ctx)
	u, err := activeUser(sys, a.client, userID)
	if err != nil {
		return err
	}
	if a.ssoOnly(u.Email) {
		return ErrSSORequired
	}
	if ok, wait := a.throttle.Take(ctx, u.Email, ip); !ok {
		return &ThrottledError{RetryAfter: wait}
	}
	ok := false
	if u.PasswordHash == "" {
		auth.EqualizePasswordTiming(current)
	} else {
		ok, _ = auth.VerifyPassword(u.PasswordHash, current)
	}
	if !ok {
		return ErrWrongPassword
	}
	a.throttle.Succeed(ctx, u.Email, ip)
	hash, err := auth.HashPassword(next)
	if err != nil {
		return fmt.Errorf("accounts: change password: %w", err)
	}
	now := a.opts.Now()
	err = a.inTx(sys, func(tx *ent.Tx) error {
		if err := tx.User.UpdateOneID(u.ID).SetPasswordHash(hash).Exec(sys); err != nil {
			return err
		}
		n, err := revokeSessions(sys, tx.Client(), u.ID, keepSession, now)
		if err != nil {
			return err
		}
		return audit.Record(sys, tx.Client(), audit.Event{
			Action: audit.PasswordChanged, ActorID: u.ID, ActorEmail: u.Email, IP: ip,
			TargetType: "user", TargetID: u.ID, Details: map[string]string{"sessions_ended": fmt.Sprint(n)},
		})
	})
	if err != nil {
		return fmt.Errorf("accounts: change password: %w", store.Classify(err))
	}
	return nil
}

// revokeSessions ends every live session of userID except keep ("" for
// none) and says how many. Access tokens die with them: the principal
// loader checks the session on every request.
func revokeSessions(sys context.Context, c *ent.Client, userID, keep string, now time.Time) (int, error) {
	q := c.Session.Update().Where(session.UserID(userID), session.RevokedAtIsNil())
	if keep != "" {
		q.Where(session.IDNEQ(keep))
	}
	return q.SetRevokedAt(now).Save(sys)
}

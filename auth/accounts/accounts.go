// Package accounts is where people become users and users become signed in:
// sign-up, password sign-in with a throttle, refresh and sign-out, the
// bootstrap admin of a fresh install, and SSO provisioning. It also holds
// the ent-backed stores that package auth declares (SigningKeyStore, SessionStore,
// PrincipalLoader), so auth itself never touches the database.
//
// Secrets stop here: passwords are only hashed, refresh tokens only stored
// as SHA-256, and neither ever reaches a log line or an audit event.
package accounts

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"net/netip"
	"strings"
	"time"

	"github.com/oais/oais/auth"
	"github.com/oais/oais/ent"
	"github.com/oais/oais/ent/emailtoken"
	"github.com/oais/oais/ent/membership"
	"github.com/oais/oais/ent/refreshtoken"
	"github.com/oais/oais/ent/user"
	"github.com/oais/oais/internal/audit"
	"github.com/oais/oais/internal/secretbox"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/viewer"
)

// Defaults of the bootstrap admin (CONTRACT §1).
const (
	DefaultBootstrapEmail = "admin@localhost"
	// GeneratedPasswordLen is the length of a generated bootstrap password:
	// 20 base62 characters, about 119 bits.
	GeneratedPasswordLen = 20
	// DefaultWorkspaceName names the workspace a fresh install starts with.
	DefaultWorkspaceName = "Default"
	defaultWorkspaceSlug = "default"
)

// Sign-in methods recorded on sessions and audit lines.
const (
	MethodPassword = "password"
	MethodOIDC     = "oidc"
)

// maxEmailLen is the users.email column limit; raise both together.
const maxEmailLen = 320

// Options are the operator's say over accounts. The zero value is a closed
// installation (no self-service sign-up) with the auth package's defaults.
type Options struct {
	// AllowSignUp turns on self-service sign-up (OAIS_ALLOW_SIGNUP).
	AllowSignUp bool
	// RefreshTTL and IdleTimeout bound sessions; see auth.SessionsConfig.
	RefreshTTL  time.Duration
	IdleTimeout time.Duration
	// Throttle slows password guessing; auth.SignInLimits in this process
	// if nil.
	Throttle *auth.Throttle
	// SignUpThrottle bounds sign-ups per client address and in total (each
	// hashes a password: 19 MiB of memory); SignUpLimits with the defaults
	// in this process if nil.
	SignUpThrottle *auth.Throttle
	// MailThrottle bounds the links a client may have mailed (password
	// resets per address and client, verification resends per account);
	// MailLimits in this process if nil.
	MailThrottle *auth.Throttle
	// Mail sends verification and reset links; without it they are only
	// logged as dropped (tests that send none).
	Mail Mail
	// SSODomains are the e-mail domains that sign in only through SSO
	// (OAIS_OIDC_REQUIRE), lower-case.
	SSODomains []string
	// Secrets seals TOTP secrets at rest (OAIS_SECRETS_KEY); nil or keyless
	// stores them as they are, like signing keys.
	Secrets *secretbox.Box
	// TOTPIssuer names the installation in authenticator apps; "oais" if empty.
	TOTPIssuer string
	// OTPThrottle bounds wrong second-factor codes per account, from any
	// address; auth.NewKeyThrottle's defaults if nil.
	OTPThrottle *auth.KeyThrottle
	// Now is the clock; time.Now if nil.
	Now    func() time.Time
	Logger *slog.Logger
}

// Accounts signs people up and in. It is safe for concurrent use.
type Accounts struct {
	client       *ent.Client
	sessions     *auth.Sessions
	throttle     *auth.Throttle
	otpThrottle  *auth.KeyThrottle
	signUps      *auth.Throttle
	mailThrottle *auth.Throttle
	mail         Mail
	opts         Options
	log          *slog.Logger
}

// New returns Accounts over client whose sessions get access tokens from
// issuer and keep their refresh tokens in client's database. Refreshing
// checks the user each time, so a disabled user's sessions stop refreshing.
func New(client *ent.Client, issuer auth.AccessIssuer, opts Options) (*Accounts, error) {
	if client == nil || issuer == nil {
		return nil, errors.New("accounts: New needs an ent client and an issuer")
	}
	for _, th := range []struct {
		t   **auth.Throttle
		cfg auth.ThrottleConfig
	}{
		{&opts.Throttle, auth.SignInLimits()},
		{&opts.SignUpThrottle, SignUpLimits(DefaultSignUpsPerAddress, DefaultSignUpsTotal)},
		{&opts.MailThrottle, MailLimits()},
	} {
		if *th.t == nil {
			var err error
			if *th.t, err = auth.NewThrottle(th.cfg); err != nil {
				return nil, err
			}
		}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.OTPThrottle == nil {
		var err error
		if opts.OTPThrottle, err = auth.NewKeyThrottle(0, 0, opts.Now); err != nil {
			return nil, err
		}
	}
	if opts.TOTPIssuer == "" {
		opts.TOTPIssuer = "oais"
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Mail == nil {
		opts.Mail = droppedMail{opts.Logger}
	}
	sessions := auth.NewSessions(NewSessionStore(client), issuer, auth.SessionsConfig{
		RefreshTTL:  opts.RefreshTTL,
		IdleTimeout: opts.IdleTimeout,
		LookupUser:  NewPrincipalLoader(client).Email,
		Now:         opts.Now,
		Logger:      opts.Logger,
	})
	return &Accounts{client: client, sessions: sessions, throttle: opts.Throttle, otpThrottle: opts.OTPThrottle, signUps: opts.SignUpThrottle,
		mailThrottle: opts.MailThrottle, mail: opts.Mail, opts: opts, log: opts.Logger}, nil
}

// Principals returns the PrincipalLoader of these accounts: it ends
// sessions idle past Options.IdleTimeout on the clock of Options.Now.
func (a *Accounts) Principals() *PrincipalLoader {
	return &PrincipalLoader{client: a.client, idle: a.opts.IdleTimeout, now: a.opts.Now}
}

type userAgentKey struct{}

// WithUserAgent returns ctx carrying the client's User-Agent, which sessions
// started in it record for the user's list of signed-in devices.
func WithUserAgent(ctx context.Context, ua string) context.Context {
	return context.WithValue(ctx, userAgentKey{}, ua)
}

func userAgent(ctx context.Context) string {
	ua, _ := ctx.Value(userAgentKey{}).(string)
	return ua
}

// NormalizeEmail trims and lower-cases email and checks that it is a bare
// address (no display name), or returns an error wrapping ErrInvalidEmail.
// Every email is stored normalised, so look-ups compare exactly.
func NormalizeEmail(email string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(email))
	if e == "" || len(e) > maxEmailLen {
		return "", ErrInvalidEmail
	}
	addr, err := mail.ParseAddress(e)
	if err != nil || addr.Address != e || addr.Name != "" {
		return "", ErrInvalidEmail
	}
	local, domain, ok := strings.Cut(e, "@")
	if !ok || local == "" || domain == "" || strings.ContainsAny(e, " \t\r\n<>") {
		return "", ErrInvalidEmail
	}
	return e, nil
}

// SignUp creates a user with a password, mails them a link to verify the
// address, and signs them in. It returns ErrSignUpDisabled unless
// Config.AllowSignUp, a *ThrottledError past the sign-up throttle (every
// attempt counts: each costs a password hash, and each answer says whether
// an address has an account), ErrSSORequired for a domain that signs in
// through SSO, ErrInvalidEmail, auth.ErrWeakPassword or
// auth.ErrPasswordTooLong for bad input, and ErrEmailTaken when the email
// has an account. The new account is unverified: it signs in, but accepts
// no invitation until the link is used. ip is the client's address.
func (a *Accounts) SignUp(ctx context.Context, email, password string, ip netip.Addr) (auth.Tokens, *ent.User, error) {
	if !a.opts.AllowSignUp {
		return auth.Tokens{}, nil, ErrSignUpDisabled
	}
	if ok, wait := a.signUps.Take(ctx, "", ip); !ok {
		a.log.WarnContext(ctx, "accounts: sign-up throttled", slog.String("ip", ip.String()))
		return auth.Tokens{}, nil, &ThrottledError{RetryAfter: wait}
	}
	e, err := NormalizeEmail(email)
	if err != nil {
		return auth.Tokens{}, nil, err
	}
	if a.ssoOnly(e) {
		return auth.Tokens{}, nil, ErrSSORequired
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		return auth.Tokens{}, nil, fmt.Errorf("accounts: sign-up: %w", err)
	}
	sys := viewer.SystemContext(ctx)
	var u *ent.User
	var link emailLink
	err = a.inTx(sys, func(tx *ent.Tx) error {
		// An address that has a row is taken, whatever the row holds: a
		// sign-up proves nothing about the address, so it never inherits
		// what an earlier row was given (issue 15: invitations were
		// handed over this way).
		var err error
		u, err = tx.User.Create().SetEmail(e).SetPasswordHash(hash).SetLastSignInAt(a.opts.Now()).Save(sys)
		if err != nil {
			return err
		}
		if link, err = a.newLink(sys, tx.Client(), u, emailtoken.PurposeVERIFY_EMAIL); err != nil {
			return err
		}
		return audit.Record(sys, tx.Client(), audit.Event{
			Action: audit.SignUp, ActorID: u.ID, ActorEmail: u.Email, IP: ip,
			TargetType: "user", TargetID: u.ID,
			Details: map[string]string{"method": MethodPassword},
		})
	})
	if isConflict(err) {
		return auth.Tokens{}, nil, ErrEmailTaken
	} else if err != nil {
		return auth.Tokens{}, nil, fmt.Errorf("accounts: sign-up: %w", store.Classify(err))
	}
	u = u.Unwrap() // bound to the committed transaction otherwise
	a.mail.Verification(u.Email, link.token, link.expires)
	// Whoever chose the password signs in from here without the
	// account-wide backoff.
	a.throttle.Trust(ctx, u.Email, ip)
	tok, err := a.start(ctx, u, MethodPassword, ip)
	if err != nil {
		return auth.Tokens{}, nil, err
	}
	return tok, u, nil
}

// SignIn is SignInOTP without a second factor: an account with TOTP on
// gets ErrOTPRequired.
func (a *Accounts) SignIn(ctx context.Context, email, password string, ip netip.Addr) (auth.Tokens, *ent.User, error) {
	return a.SignInOTP(ctx, email, password, "", ip)
}

// SignInOTP checks an email and password (and, for an account with TOTP,
// otp: a current code or an unused recovery code) and starts a session.
// Every reason a sign-in can fail (unknown email, wrong password, disabled or SSO-only
// account, malformed email) returns ErrInvalidCredentials after the same
// password-hashing work; too many failures from ip, or of the account from
// anywhere, return a *ThrottledError; an address of a domain in
// Options.SSODomains gets ErrSSORequired. With the right password, a
// missing otp gets ErrOTPRequired and a wrong one ErrOTPInvalid, which
// counts as a failed sign-in.
//
// The attempt is counted before the password is checked (and given back
// if it was right), so concurrent guesses get no more checks than guesses
// in turn.
func (a *Accounts) SignInOTP(ctx context.Context, email, password, otp string, ip netip.Addr) (auth.Tokens, *ent.User, error) {
	raw := strings.ToLower(strings.TrimSpace(email))
	// Decided by the domain alone, so it tells nothing about accounts.
	if a.ssoOnly(raw) {
		return auth.Tokens{}, nil, ErrSSORequired
	}
	if ok, wait := a.throttle.Take(ctx, raw, ip); !ok {
		a.log.WarnContext(ctx, "accounts: sign-in throttled", slog.String("ip", ip.String()))
		return auth.Tokens{}, nil, &ThrottledError{RetryAfter: wait}
	}
	sys := viewer.SystemContext(ctx)
	u, reason, err := a.checkPassword(sys, raw, password)
	if err != nil {
		return auth.Tokens{}, nil, err
	}
	if reason != "" {
		ev := audit.Event{Action: audit.SignInFailed, IP: ip, Details: map[string]string{"reason": reason, "method": MethodPassword}}
		// Only a well-formed email is recorded: a malformed one may be a
		// password typed into the wrong field.
		if e, err := NormalizeEmail(raw); err == nil {
			ev.ActorEmail = e
		}
		if u != nil {
			ev.ActorID, ev.TargetType, ev.TargetID = u.ID, "user", u.ID
		}
		if err := audit.Record(sys, a.client, ev); err != nil {
			a.log.ErrorContext(ctx, "accounts: audit failed sign-in", slog.Any("error", err))
		}
		return auth.Tokens{}, nil, ErrInvalidCredentials
	}
	if err := a.secondFactor(ctx, u, otp, raw, ip); err != nil {
		if errors.Is(err, ErrOTPRequired) {
			// The password was right: being asked for the code is the
			// first of two steps, not a failure.
			a.throttle.Succeed(ctx, raw, ip)
		}
		return auth.Tokens{}, nil, err
	}
	a.throttle.Succeed(ctx, raw, ip)

	upd := u.Update().SetLastSignInAt(a.opts.Now())
	if auth.NeedsRehash(u.PasswordHash) {
		// The password was just verified; upgrade its hash to the
		// current parameters while we have it.
		if h, err := auth.HashPassword(password); err == nil {
			upd.SetPasswordHash(h)
		}
	}
	if u, err = upd.Save(sys); err != nil {
		return auth.Tokens{}, nil, fmt.Errorf("accounts: record sign-in: %w", store.Classify(err))
	}
	tok, err := a.start(ctx, u, MethodPassword, ip)
	if err != nil {
		return auth.Tokens{}, nil, err
	}
	return tok, u, nil
}

// checkPassword returns the user and "" when password is theirs, or a
// reason for the audit log. Both outcomes cost one argon2 verification.
func (a *Accounts) checkPassword(sys context.Context, email, password string) (*ent.User, string, error) {
	if _, err := NormalizeEmail(email); err != nil {
		auth.EqualizePasswordTiming(password)
		return nil, "malformed_email", nil
	}
	u, err := a.client.User.Query().Where(user.Email(email)).Only(sys)
	switch {
	case ent.IsNotFound(err):
		auth.EqualizePasswordTiming(password)
		return nil, "unknown_user", nil
	case err != nil:
		return nil, "", fmt.Errorf("accounts: sign-in: %w", store.Classify(err))
	case u.PasswordHash == "":
		auth.EqualizePasswordTiming(password)
		return u, "no_password", nil
	}
	ok, err := auth.VerifyPassword(u.PasswordHash, password)
	switch {
	case errors.Is(err, auth.ErrInvalidHash):
		a.log.ErrorContext(sys, "accounts: stored password hash unusable", slog.String("user_id", u.ID))
		return u, "bad_hash", nil
	case err != nil || !ok:
		return u, "wrong_password", nil
	case u.Disabled:
		return u, "disabled", nil
	}
	return u, "", nil
}

// start begins a session for u and writes the sign-in to the audit log.
func (a *Accounts) start(ctx context.Context, u *ent.User, method string, ip netip.Addr) (auth.Tokens, error) {
	tok, err := a.sessions.Start(ctx, u.ID, u.Email, auth.SessionMeta{Method: method, UserAgent: userAgent(ctx), IP: ip})
	if err != nil {
		return auth.Tokens{}, fmt.Errorf("accounts: start session: %w", err)
	}
	a.auditBestEffort(ctx, audit.Event{
		Action: audit.SignIn, ActorID: u.ID, ActorEmail: u.Email, IP: ip,
		TargetType: "session", TargetID: tok.SessionID,
		Details: map[string]string{"method": method},
	})
	return tok, nil
}

// Refresh exchanges a refresh token for new tokens and returns them with
// the user. Errors wrap auth.ErrInvalidRefresh (sign in again),
// auth.ErrRefreshReused (the session was revoked: the token was copied) or
// auth.ErrUnknownPrincipal (the user is gone or disabled). ip is the
// client's address, for the audit line of a reuse.
func (a *Accounts) Refresh(ctx context.Context, refreshToken string, ip netip.Addr) (auth.Tokens, *ent.User, error) {
	tok, err := a.sessions.Refresh(ctx, refreshToken)
	if errors.Is(err, auth.ErrRefreshReused) {
		ev := audit.Event{Action: audit.SessionReuse, TargetType: "session", IP: ip}
		if s, ok := a.sessionOf(ctx, refreshToken); ok {
			ev.ActorID, ev.TargetID = s.UserID, s.ID
		}
		a.auditBestEffort(ctx, ev)
		return auth.Tokens{}, nil, err
	} else if err != nil {
		return auth.Tokens{}, nil, err
	}
	sys := viewer.SystemContext(ctx)
	u, err := activeUser(sys, a.client, tok.UserID)
	if err != nil {
		// Without SessionsConfig.LookupUser the session outlived its
		// user's right to sign in; end it.
		if errors.Is(err, auth.ErrUnknownPrincipal) {
			if rerr := a.sessions.RevokeSession(ctx, tok.UserID, tok.SessionID); rerr != nil {
				a.log.ErrorContext(ctx, "accounts: revoke session of unknown user", slog.Any("error", rerr))
			}
		}
		return auth.Tokens{}, nil, err
	}
	return tok, u, nil
}

// SignOut ends the session of refreshToken. An unknown or malformed token
// wraps auth.ErrInvalidRefresh. ip is the client's address.
func (a *Accounts) SignOut(ctx context.Context, refreshToken string, ip netip.Addr) error {
	s, _ := a.sessionOf(ctx, refreshToken)
	if err := a.sessions.SignOut(ctx, refreshToken); err != nil {
		return err
	}
	ev := audit.Event{Action: audit.SignOut, TargetType: "session", IP: ip}
	if s != nil {
		ev.ActorID, ev.ActorEmail, ev.TargetID = s.UserID, s.Email, s.ID
	}
	a.auditBestEffort(ctx, ev)
	return nil
}

// sessionOf finds the session a refresh token belongs to, for audit lines.
func (a *Accounts) sessionOf(ctx context.Context, refreshToken string) (*ent.Session, bool) {
	h := sha256.Sum256([]byte(refreshToken))
	rt, err := a.client.RefreshToken.Query().
		Where(refreshtoken.TokenHash(hex.EncodeToString(h[:]))).
		WithSession().
		Only(viewer.SystemContext(ctx))
	if err != nil || rt.Edges.Session == nil {
		return nil, false
	}
	return rt.Edges.Session, true
}

// EnsureBootstrapAdmin makes a fresh install usable: if no user exists it
// creates a site admin with email and password, a workspace named
// DefaultWorkspaceName and the admin as its OWNER. An empty password is
// replaced by a generated one, returned so the caller can print it once;
// password is empty unless generated. With any user present it does
// nothing and returns created = false.
func (a *Accounts) EnsureBootstrapAdmin(ctx context.Context, email, password string) (created bool, generated string, err error) {
	sys := viewer.SystemContext(ctx)
	if n, err := a.client.User.Query().Limit(1).Count(sys); err != nil {
		return false, "", fmt.Errorf("accounts: bootstrap: %w", store.Classify(err))
	} else if n > 0 {
		return false, "", nil
	}
	if email == "" {
		email = DefaultBootstrapEmail
	}
	e, err := NormalizeEmail(email)
	if err != nil {
		return false, "", fmt.Errorf("accounts: bootstrap admin email: %w", err)
	}
	if password == "" {
		if generated, err = GeneratePassword(); err != nil {
			return false, "", err
		}
		password = generated
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		return false, "", fmt.Errorf("accounts: bootstrap admin password: %w", err)
	}
	err = a.inTx(sys, func(tx *ent.Tx) error {
		// Checked again inside the transaction: another replica may have
		// bootstrapped meanwhile. If both pass, the unique email and
		// workspace slug make one of them fail.
		if n, err := tx.User.Query().Limit(1).Count(sys); err != nil || n > 0 {
			if err == nil {
				err = errAlreadyBootstrapped
			}
			return err
		}
		// The operator chose the address: it counts as verified.
		u, err := tx.User.Create().SetEmail(e).SetPasswordHash(hash).SetSiteAdmin(true).SetEmailVerifiedAt(a.opts.Now()).Save(sys)
		if err != nil {
			return err
		}
		ws, err := tx.Workspace.Create().SetName(DefaultWorkspaceName).SetSlug(defaultWorkspaceSlug).Save(sys)
		if err != nil {
			return err
		}
		if err := tx.Membership.Create().SetWorkspaceID(ws.ID).SetUserID(u.ID).SetRole(membership.RoleOWNER).Exec(sys); err != nil {
			return err
		}
		c := tx.Client()
		if err := audit.Record(sys, c, audit.Event{
			Action: audit.SignUp, ActorID: u.ID, ActorEmail: u.Email, TargetType: "user", TargetID: u.ID,
			Details: map[string]string{"method": "bootstrap", "site_admin": "true"},
		}); err != nil {
			return err
		}
		return audit.Record(sys, c, audit.Event{
			WorkspaceID: ws.ID, Action: audit.WorkspaceCreated, ActorID: u.ID, ActorEmail: u.Email,
			TargetType: "workspace", TargetID: ws.ID,
		})
	})
	if errors.Is(err, errAlreadyBootstrapped) || isConflict(err) {
		return false, "", nil
	} else if err != nil {
		return false, "", fmt.Errorf("accounts: bootstrap: %w", store.Classify(err))
	}
	a.log.InfoContext(ctx, "accounts: bootstrap admin created", slog.String("email", e))
	return true, generated, nil
}

var errAlreadyBootstrapped = errors.New("accounts: already bootstrapped")

const passwordAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// GeneratePassword returns GeneratedPasswordLen random base62 characters.
func GeneratePassword() (string, error) {
	out := make([]byte, 0, GeneratedPasswordLen)
	buf := make([]byte, 2*GeneratedPasswordLen)
	for len(out) < GeneratedPasswordLen {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("accounts: generate password: %w", err)
		}
		for _, b := range buf {
			// 248 = 4*62: rejecting the rest keeps every character equally likely.
			if b < 248 && len(out) < GeneratedPasswordLen {
				out = append(out, passwordAlphabet[int(b)%len(passwordAlphabet)])
			}
		}
	}
	return string(out), nil
}

func (a *Accounts) inTx(ctx context.Context, f func(tx *ent.Tx) error) error {
	tx, err := a.client.Tx(ctx)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// auditBestEffort records e outside any transaction; a failure is logged,
// not returned, because the action it describes has already happened.
func (a *Accounts) auditBestEffort(ctx context.Context, e audit.Event) {
	if err := audit.Record(viewer.SystemContext(ctx), a.client, e); err != nil {
		a.log.ErrorContext(ctx, "accounts: audit", slog.String("action", e.Action), slog.Any("error", err))
	}
}

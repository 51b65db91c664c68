package accounts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/oais/oais/auth"
	"github.com/oais/oais/ent"
	"github.com/oais/oais/ent/emailtoken"
	"github.com/oais/oais/ent/membership"
	"github.com/oais/oais/ent/user"
	"github.com/oais/oais/ent/workspace"
	"github.com/oais/oais/internal/audit"
	"github.com/oais/oais/internal/ids"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/viewer"
)

// maxNameLen is the users.name column limit, in characters; raise both together.
const maxNameLen = 200

// DomainRule gives SSO users whose verified email is in Domain a Role in
// WorkspaceID when they first sign in through SSO.
type DomainRule struct {
	Domain      string // lower-case, matched exactly (no subdomains)
	WorkspaceID string
	Role        viewer.Role
}

// ParseDomainRules parses OAIS_OIDC_DOMAIN_WORKSPACES: comma-separated
// DOMAIN=WORKSPACE_ID:ROLE entries, e.g.
// "example.com=ws_01J…:DEVELOPER,corp.example=ws_01K…:VIEWER". ROLE is one of
// OWNER, ADMIN, DEVELOPER, VIEWER (case-insensitive). Empty input gives no rules.
func ParseDomainRules(s string) ([]DomainRule, error) {
	var out []DomainRule
	for entry := range strings.SplitSeq(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		domain, target, ok := strings.Cut(entry, "=")
		ws, role, ok2 := strings.Cut(target, ":")
		r := DomainRule{
			Domain:      strings.ToLower(strings.TrimSpace(domain)),
			WorkspaceID: strings.TrimSpace(ws),
			Role:        viewer.Role(strings.ToUpper(strings.TrimSpace(role))),
		}
		switch {
		case !ok || !ok2:
			return nil, fmt.Errorf("domain rule %q: want DOMAIN=WORKSPACE_ID:ROLE", entry)
		case r.Domain == "" || strings.ContainsAny(r.Domain, "@ \t"):
			return nil, fmt.Errorf("domain rule %q: bad domain", entry)
		case ids.Prefix(r.WorkspaceID) != ids.Workspace:
			return nil, fmt.Errorf("domain rule %q: %q is not a workspace id (%s_…)", entry, r.WorkspaceID, ids.Workspace)
		case !r.Role.Valid():
			return nil, fmt.Errorf("domain rule %q: role must be OWNER, ADMIN, DEVELOPER or VIEWER", entry)
		}
		out = append(out, r)
	}
	return out, nil
}

// ProvisionOIDC returns the user for a verified SSO identity: the one linked
// to (issuer, subject); else the account with the identity's email, linked
// now if the provider verified that email (ErrEmailTaken otherwise) and the
// account proved it reads the address too, or never had a credential; else
// a new password-less user. An account whose password was set by whoever
// signed up with the address, never proving it, is not the identity's: it
// is disabled, its sessions end, and the identity gets a fresh account
// (issue 15). On that first SSO sign-in the rules whose domain matches a
// verified email add memberships. A disabled account gives
// ErrAccountDisabled.
func (a *Accounts) ProvisionOIDC(ctx context.Context, id auth.Identity, rules ...DomainRule) (*ent.User, error) {
	if id.Issuer == "" || id.Subject == "" {
		return nil, errors.New("accounts: SSO identity without issuer or subject")
	}
	sys := viewer.SystemContext(ctx)
	u, err := a.linkedUser(sys, id)
	if err != nil || u != nil {
		return u, err
	}
	email, err := NormalizeEmail(id.Email)
	if err != nil {
		return nil, fmt.Errorf("accounts: SSO identity: %w", err)
	}
	err = a.inTx(sys, func(tx *ent.Tx) error {
		var how string
		u, how, err = provisionIn(sys, tx, id, email, a.opts.Now())
		if err != nil {
			return err
		}
		c := tx.Client()
		if err := audit.Record(sys, c, audit.Event{
			Action: audit.SignUp, ActorID: u.ID, ActorEmail: u.Email, TargetType: "user", TargetID: u.ID,
			Details: map[string]string{"method": MethodOIDC, "oidc": how, "issuer": id.Issuer},
		}); err != nil {
			return err
		}
		if id.EmailVerified {
			return a.applyRules(sys, tx, u, rules)
		}
		return nil
	})
	if isConflict(err) {
		// A concurrent first sign-in of the same identity won the insert.
		if u, lerr := a.linkedUser(sys, id); lerr == nil && u != nil {
			return u, nil
		}
	}
	if err != nil {
		if errors.Is(err, ErrEmailTaken) || errors.Is(err, ErrAccountDisabled) {
			return nil, err
		}
		return nil, fmt.Errorf("accounts: provision SSO user: %w", store.Classify(err))
	}
	return u.Unwrap(), nil // bound to the committed transaction otherwise
}

// linkedUser returns the user linked to id, nil if there is none.
func (a *Accounts) linkedUser(sys context.Context, id auth.Identity) (*ent.User, error) {
	u, err := a.client.User.Query().Where(user.OidcIssuer(id.Issuer), user.OidcSubject(id.Subject)).Only(sys)
	switch {
	case ent.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("accounts: find SSO user: %w", store.Classify(err))
	case u.Disabled:
		return nil, ErrAccountDisabled
	}
	return u, nil
}

// provisionIn links or creates the user of id inside tx and says which.
func provisionIn(sys context.Context, tx *ent.Tx, id auth.Identity, email string, now time.Time) (*ent.User, string, error) {
	create := func(how string) (*ent.User, string, error) {
		q := tx.User.Create().
			SetEmail(email).
			SetName(store.Truncate(id.Name, maxNameLen)).
			SetOidcIssuer(id.Issuer).
			SetOidcSubject(id.Subject)
		if id.EmailVerified {
			q.SetEmailVerifiedAt(now)
		}
		u, err := q.Save(sys)
		return u, how, err
	}
	existing, err := tx.User.Query().Where(user.Email(email)).Only(sys)
	switch {
	case ent.IsNotFound(err):
		return create("created")
	case err != nil:
		return nil, "", err
	case !id.EmailVerified:
		// Anyone can claim an address at some providers; linking on an
		// unverified one would hand them the account.
		return nil, "", fmt.Errorf("%w: provider did not verify the email", ErrEmailTaken)
	case existing.OidcSubject != "":
		return nil, "", fmt.Errorf("%w: account is linked to another SSO identity", ErrEmailTaken)
	case existing.Disabled:
		return nil, "", ErrAccountDisabled
	case existing.EmailVerifiedAt == nil && existing.PasswordHash != "":
		// Whoever chose this password never proved the address; the
		// provider just did for someone else. Linking would let the
		// password's holder into the SSO user's account.
		if err := supersede(sys, tx, existing, id, now); err != nil {
			return nil, "", err
		}
		return create("superseded")
	}
	upd := existing.Update().SetOidcIssuer(id.Issuer).SetOidcSubject(id.Subject)
	if existing.EmailVerifiedAt == nil {
		// A row with no credential at all (an invitee of before issue 15):
		// the provider's word is the first proof of the address.
		upd.SetEmailVerifiedAt(now)
	}
	if existing.Name == "" && id.Name != "" {
		upd.SetName(store.Truncate(id.Name, maxNameLen))
	}
	u, err := upd.Save(sys)
	return u, "linked", err
}

// supersede disables old, an unverified password account holding the
// address a verified SSO identity arrived with: it stops signing in, its
// sessions end, its unused links die, and it gives up the address (kept in
// the audit line) so the identity's fresh account can have it.
func supersede(sys context.Context, tx *ent.Tx, old *ent.User, id auth.Identity, now time.Time) error {
	if err := tx.User.UpdateOne(old).
		SetDisabled(true).
		SetEmail("superseded." + strings.ToLower(old.ID) + "@account.invalid").
		Exec(sys); err != nil {
		return err
	}
	n, err := revokeSessions(sys, tx.Client(), old.ID, "", now)
	if err != nil {
		return err
	}
	if err := tx.EmailToken.Update().Where(emailtoken.UserID(old.ID), emailtoken.UsedAtIsNil()).SetUsedAt(now).Exec(sys); err != nil {
		return err
	}
	return audit.Record(sys, tx.Client(), audit.Event{
		Action: audit.AccountSuperseded, ActorEmail: old.Email, TargetType: "user", TargetID: old.ID,
		Details: map[string]string{"email": old.Email, "issuer": id.Issuer, "sessions_ended": fmt.Sprint(n),
			"reason": "a verified SSO identity arrived for an address this unverified password account held"},
	})
}

// applyRules adds the memberships that rules grant u. A rule naming a
// workspace that does not exist is skipped with a warning, not an error:
// the user should still get in.
func (a *Accounts) applyRules(sys context.Context, tx *ent.Tx, u *ent.User, rules []DomainRule) error {
	_, domain, _ := strings.Cut(u.Email, "@")
	for _, r := range rules {
		if r.Domain != domain {
			continue
		}
		exists, err := tx.Workspace.Query().Where(workspace.ID(r.WorkspaceID)).Exist(sys)
		if err != nil {
			return err
		}
		if !exists {
			a.log.WarnContext(sys, "accounts: SSO domain rule names a missing workspace",
				slog.String("domain", r.Domain), slog.String("workspace_id", r.WorkspaceID))
			continue
		}
		member, err := tx.Membership.Query().
			Where(membership.WorkspaceID(r.WorkspaceID), membership.UserID(u.ID)).Exist(sys)
		if err != nil {
			return err
		}
		if member {
			continue
		}
		if err := tx.Membership.Create().
			SetWorkspaceID(r.WorkspaceID).SetUserID(u.ID).SetRole(membership.Role(r.Role)).
			Exec(sys); err != nil {
			return err
		}
		if err := audit.Record(sys, tx.Client(), audit.Event{
			WorkspaceID: r.WorkspaceID, Action: audit.MemberInvited, ActorID: u.ID, ActorEmail: u.Email,
			TargetType: "user", TargetID: u.ID,
			Details: map[string]string{"role": string(r.Role), "via": "oidc_domain_rule", "domain": r.Domain},
		}); err != nil {
			return err
		}
	}
	return nil
}

// SignInOIDC provisions the user of a verified SSO identity (see
// ProvisionOIDC) and starts a session for them.
func (a *Accounts) SignInOIDC(ctx context.Context, id auth.Identity, ip netip.Addr, rules ...DomainRule) (auth.Tokens, *ent.User, error) {
	u, err := a.ProvisionOIDC(ctx, id, rules...)
	if err != nil {
		return auth.Tokens{}, nil, err
	}
	upd := u.Update().SetLastSignInAt(a.opts.Now())
	if e, err := NormalizeEmail(id.Email); err == nil && id.EmailVerified && u.EmailVerifiedAt == nil && e == u.Email {
		upd.SetEmailVerifiedAt(a.opts.Now())
	}
	if u, err = upd.Save(viewer.SystemContext(ctx)); err != nil {
		return auth.Tokens{}, nil, fmt.Errorf("accounts: record sign-in: %w", store.Classify(err))
	}
	tok, err := a.start(ctx, u, MethodOIDC, ip)
	if err != nil {
		return auth.Tokens{}, nil, err
	}
	return tok, u, nil
}

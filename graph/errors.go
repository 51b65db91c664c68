package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/oais/oais/auth"
	"github.com/oais/oais/auth/accounts"
	"github.com/oais/oais/ent"
	"github.com/oais/oais/ent/privacy"
	"github.com/oais/oais/internal/apikeys"
	"github.com/oais/oais/internal/channels"
	"github.com/oais/oais/internal/keys"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/userinput"
	"github.com/oais/oais/internal/workspaces"
)

// Error codes in extensions.code. Clients (the dashboard) switch on them: add, never rename.
const (
	CodeUnauthenticated = "UNAUTHENTICATED"
	CodeForbidden       = "FORBIDDEN"
	CodeNotFound        = "NOT_FOUND"
	CodeBadInput        = "BAD_USER_INPUT"
	CodeConflict        = "CONFLICT"
	CodeKeyLimit        = "KEY_LIMIT_REACHED"
	CodeThrottled       = "THROTTLED"
	CodeUnavailable     = "UNAVAILABLE"
	CodeInternal        = "INTERNAL"
	// Issue 15: mailed links, invitations and SSO-only domains.
	CodeLinkInvalid      = "LINK_INVALID"
	CodeEmailNotVerified = "EMAIL_NOT_VERIFIED"
	CodeEmailMismatch    = "INVITATION_EMAIL_MISMATCH"
	CodeInvitationLimit  = "INVITATION_LIMIT_REACHED"
	CodeSSORequired      = "SSO_REQUIRED"
)

// Presented is how one error reaches a client.
type Presented struct {
	Code    string
	Message string
	Field   string
}

// Throttled is implemented by errors that carry a retry delay.
type Throttled interface{ RetryAfterSeconds() int }

// RetryAfter returns the seconds a throttled error asks the client to wait,
// which the presenter puts in extensions.retryAfter next to THROTTLED.
func RetryAfter(err error) (int, bool) {
	var th Throttled
	if !errors.As(err, &th) {
		return 0, false
	}
	return th.RetryAfterSeconds(), true
}

// Present maps an error to its wire form. It is the only place that does;
// anything it does not know is an internal error whose detail is logged,
// never shown (STYLE rule 11).
func Present(err error) Presented {
	in, isInput := userinput.As(err)
	var th Throttled
	switch {
	case isInput:
		return Presented{CodeBadInput, in.Msg, in.Field}
	case errors.Is(err, ErrUnauthenticated), errors.Is(err, auth.ErrInvalidToken),
		errors.Is(err, auth.ErrInvalidRefresh), errors.Is(err, auth.ErrRefreshReused), errors.Is(err, auth.ErrRefreshNotFound),
		errors.Is(err, auth.ErrSessionNotFound):
		return Presented{CodeUnauthenticated, "Your session has ended. Sign in again.", ""}
	case errors.As(err, &th):
		return Presented{CodeThrottled, "Too many attempts. Wait a few minutes and try again.", ""}
	case errors.Is(err, auth.ErrWeakPassword):
		return Presented{CodeBadInput, "Choose a password of at least 8 characters.", "password"}
	case errors.Is(err, auth.ErrPasswordTooLong):
		return Presented{CodeBadInput, "Passwords are at most 256 bytes.", "password"}
	case errors.Is(err, apikeys.ErrKeyLimit):
		return Presented{CodeKeyLimit, "This workspace has reached its API key limit. Revoke an unused key before generating a new one.", ""}
	case errors.Is(err, keys.ErrLeaked):
		return Presented{CodeForbidden, "This key was revoked as leaked and can never be used again. Generate a new key.", ""}
	case errors.Is(err, keys.ErrBadTransition):
		return Presented{CodeBadInput, "That status change is not possible for this key.", "status"}
	case errors.Is(err, workspaces.ErrLastOwner):
		return Presented{CodeForbidden, "The last owner cannot leave or be demoted. Make another member an owner first.", ""}
	case errors.Is(err, workspaces.ErrAlready):
		return Presented{CodeConflict, "That person is already a member of this workspace.", "email"}
	case errors.Is(err, keys.ErrForbidden), errors.Is(err, workspaces.ErrForbidden), errors.Is(err, channels.ErrForbidden), errors.Is(err, privacy.Deny):
		return Presented{CodeForbidden, "Your role in this workspace does not allow this.", ""}
	case errors.Is(err, store.ErrNotFound), ent.IsNotFound(err):
		return Presented{CodeNotFound, "Not found.", ""}
	case errors.Is(err, store.ErrConflict), ent.IsConstraintError(err):
		return Presented{CodeConflict, "That conflicts with an existing record.", ""}
	case errors.Is(err, store.ErrUnavailable):
		return Presented{CodeUnavailable, "The database is unavailable right now. Try again in a moment.", ""}
	}
	if p, ok := presentAccounts(err); ok {
		return p
	}
	if p, ok := presentInvitations(err); ok {
		return p
	}
	if p, ok := presentKeyLifecycle(err); ok {
		return p
	}
	if p, ok := presentGroups(err); ok {
		return p
	}
	if p, ok := presentSecurity(err); ok {
		return p
	}
	return Presented{CodeInternal, "Something went wrong on our side. Try again; if it persists, contact your operator.", ""}
}

// ErrorPresenter is gqlgen's error presenter built on Present.
func ErrorPresenter(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		var gqlErr *gqlerror.Error
		if errors.As(err, &gqlErr) && gqlErr.Err == nil {
			// Parse and validation errors from gqlgen itself: safe to show.
			return gqlErr
		}
		p := Present(err)
		if p.Code == CodeInternal || p.Code == CodeUnavailable {
			log.ErrorContext(ctx, "graphql resolver failed", "path", graphql.GetPath(ctx).String(), "err", err)
		}
		e := &gqlerror.Error{Message: p.Message, Path: graphql.GetPath(ctx), Extensions: map[string]any{"code": p.Code}}
		if p.Field != "" {
			e.Extensions["field"] = p.Field
		}
		if th, ok := RetryAfter(err); ok && p.Code == CodeThrottled {
			e.Extensions["retryAfter"] = th
		}
		return e
	}
}

// presentAccounts maps the sign-in domain's errors.
func presentAccounts(err error) (Presented, bool) {
	switch {
	case errors.Is(err, accounts.ErrInvalidCredentials), errors.Is(err, auth.ErrUnknownPrincipal):
		return Presented{CodeUnauthenticated, "Wrong e-mail or password.", ""}, true
	case errors.Is(err, accounts.ErrEmailTaken):
		return Presented{CodeConflict, "An account with this e-mail already exists. Sign in instead.", "email"}, true
	case errors.Is(err, accounts.ErrInvalidEmail):
		return Presented{CodeBadInput, "Enter a valid e-mail address.", "email"}, true
	case errors.Is(err, accounts.ErrSignUpDisabled):
		return Presented{CodeForbidden, "Sign-up is turned off here. Ask an admin to invite you.", ""}, true
	case errors.Is(err, accounts.ErrAccountDisabled):
		return Presented{CodeForbidden, "This account is disabled. Contact your admin.", ""}, true
	case errors.Is(err, accounts.ErrSSORequired):
		return Presented{CodeSSORequired, "Addresses at this domain sign in with single sign-on: use “Sign in with SSO”.", "email"}, true
	case errors.Is(err, accounts.ErrEmailNotVerified):
		return Presented{CodeEmailNotVerified, "Confirm your e-mail address first: open the link we mailed you (or send a new one), then try again.", ""}, true
	case errors.Is(err, accounts.ErrLinkInvalid):
		return Presented{CodeLinkInvalid, "This link is invalid, expired or already used. Ask for a new one.", ""}, true
	case errors.Is(err, accounts.ErrWrongPassword):
		return Presented{CodeBadInput, "The current password is wrong.", "current"}, true
	}
	return Presented{}, false
}

// presentInvitations maps the invitation errors of internal/workspaces.
func presentInvitations(err error) (Presented, bool) {
	switch {
	case errors.Is(err, workspaces.ErrInvitationInvalid):
		return Presented{CodeLinkInvalid, "This invitation is no longer valid: it expired, was revoked or was already used. Ask the workspace's admins for a new one.", ""}, true
	case errors.Is(err, workspaces.ErrInvitationForOther):
		return Presented{CodeEmailMismatch, "This invitation was sent to another e-mail address. Sign in with the address it was sent to.", ""}, true
	case errors.Is(err, workspaces.ErrInvitationClosed):
		return Presented{CodeConflict, "This invitation was already accepted or revoked.", ""}, true
	case errors.Is(err, workspaces.ErrTooManyInvitations):
		return Presented{CodeInvitationLimit, fmt.Sprintf("This workspace has %d pending invitations. Revoke some before inviting more.", workspaces.MaxPendingInvitations), ""}, true
	}
	return Presented{}, false
}

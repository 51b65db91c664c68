package accounts

import (
	"errors"
	"fmt"
	"time"
)

// Errors of this package; match them with errors.Is. Transports show
// clients only the sentinel's meaning, never the wrapped detail.
var (
	// ErrInvalidCredentials means a sign-in named an unknown, disabled or
	// password-less account, or gave a wrong password: deliberately one
	// error, so a client cannot tell which.
	ErrInvalidCredentials = errors.New("accounts: invalid email or password")
	// ErrEmailTaken means another account already has the email (sign-up),
	// or an SSO identity may not be linked to the account that has it
	// (the provider did not verify the email, or it is linked elsewhere).
	ErrEmailTaken = errors.New("accounts: email already in use")
	// ErrSignUpDisabled means self-service sign-up is turned off.
	ErrSignUpDisabled = errors.New("accounts: sign-up is disabled")
	// ErrThrottled means too many failed sign-ins; the error is a
	// *ThrottledError that says how long to wait.
	ErrThrottled = errors.New("accounts: too many failed sign-ins")
	// ErrInvalidEmail means an email address is malformed.
	ErrInvalidEmail = errors.New("accounts: invalid email address")
	// ErrAccountDisabled means an SSO sign-in reached a disabled account.
	// (A password sign-in gets ErrInvalidCredentials instead.)
	ErrAccountDisabled = errors.New("accounts: account disabled")
	// ErrEmailNotVerified means the account has not proved it reads its
	// address, which accepting an invitation needs.
	ErrEmailNotVerified = errors.New("accounts: e-mail address not verified")
	// ErrSSORequired means the address's domain signs in only through SSO
	// (OAIS_OIDC_REQUIRE): no password sign-in, sign-up or reset for it.
	ErrSSORequired = errors.New("accounts: this address must sign in with SSO")
	// ErrLinkInvalid means a mailed link's token is unknown, expired, used,
	// or was sent to an address the account no longer has. One error for
	// all, so a link tells its holder nothing more.
	ErrLinkInvalid = errors.New("accounts: the link is invalid, expired or already used")
	// ErrOTPRequired means the password was right, but the account signs in
	// with a second factor and none was given: ask for a code.
	ErrOTPRequired = errors.New("accounts: a one-time code is required")
	// ErrOTPInvalid means a second-factor code is wrong, used or expired
	// (sign-in, confirmTOTP, disableTOTP).
	ErrOTPInvalid = errors.New("accounts: the one-time code is wrong or expired")
	// ErrMFAAlreadyOn means enrollTOTP was called while TOTP is on.
	ErrMFAAlreadyOn = errors.New("accounts: two-factor sign-in is already on")
	// ErrMFANotEnrolled means confirmTOTP or disableTOTP came without an
	// enrolment (or with TOTP already off).
	ErrMFANotEnrolled = errors.New("accounts: two-factor sign-in is not set up")
	// ErrMFARequired means an operation needs a second factor the viewer
	// has not set up (a workspace requires it, or an owner turns the
	// requirement on without one).
	ErrMFARequired = errors.New("accounts: two-factor sign-in is required")
	// ErrWrongPassword means changePassword's current password is wrong.
	// (Not ErrInvalidCredentials: the session itself is fine.)
	ErrWrongPassword = errors.New("accounts: the current password is wrong")
)

// ThrottledError refuses a sign-in until RetryAfter has passed; it matches
// ErrThrottled. Transports put RetryAfter in a Retry-After header.
type ThrottledError struct {
	RetryAfter time.Duration
}

// Error says how long to wait; it carries no account or address.
func (e *ThrottledError) Error() string {
	return fmt.Sprintf("%v: retry after %v", ErrThrottled, e.RetryAfter.Round(time.Second))
}

// RetryAfterSeconds is RetryAfter rounded up to whole seconds, at least 1,
// for a Retry-After header.
func (e *ThrottledError) RetryAfterSeconds() int {
	return max(1, int((e.RetryAfter+time.Second-1)/time.Second))
}

// Unwrap makes errors.Is(err, ErrThrottled) hold.
func (e *ThrottledError) Unwrap() error { return ErrThrottled }

package graph

import (
	"errors"

	"github.com/oais/oais/auth/accounts"
)

// Error codes of issue 15's sessions, second factor and service tokens.
const (
	// CodeOTPRequired: the password was right; ask for a TOTP or recovery code.
	CodeOTPRequired = "OTP_REQUIRED"
	// CodeOTPInvalid: the code was wrong, already used or expired.
	CodeOTPInvalid = "OTP_INVALID"
	// CodeMFARequired: the workspace requires a second factor the viewer
	// has not set up.
	CodeMFARequired = "MFA_REQUIRED"
)

// presentSecurity maps the errors of sessions, MFA and service tokens.
func presentSecurity(err error) (Presented, bool) {
	switch {
	case errors.Is(err, accounts.ErrOTPRequired):
		return Presented{CodeOTPRequired, "Enter the 6-digit code from your authenticator app, or a recovery code.", "otp"}, true
	case errors.Is(err, accounts.ErrOTPInvalid):
		return Presented{CodeOTPInvalid, "That code is wrong or expired. Enter the current code from your authenticator app, or an unused recovery code.", "otp"}, true
	case errors.Is(err, accounts.ErrMFARequired):
		return Presented{CodeMFARequired, "This workspace requires two-factor sign-in. Turn it on under Account security, then try again.", ""}, true
	case errors.Is(err, accounts.ErrMFAAlreadyOn):
		return Presented{CodeConflict, "Two-factor sign-in is already on. Turn it off first to enrol a new authenticator.", ""}, true
	case errors.Is(err, accounts.ErrMFANotEnrolled):
		return Presented{CodeConflict, "Two-factor sign-in is not set up: start the enrolment again.", ""}, true
	case errors.Is(err, accounts.ErrRoleTooHigh):
		return Presented{CodeForbidden, "A service token's role cannot be higher than your own role in the workspace.", "role"}, true
	case errors.Is(err, accounts.ErrPersonOnly):
		return Presented{CodeForbidden, "Only a signed-in person can do this; a service token cannot.", ""}, true
	}
	return Presented{}, false
}

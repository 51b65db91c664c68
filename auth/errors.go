package auth

import "errors"

// Errors raised by this package. Callers match them with errors.Is; most are
// wrapped with detail that is safe to log but not meant for clients.
var (
	// ErrWeakPassword means a new password is shorter than MinPasswordLen.
	ErrWeakPassword = errors.New("auth: password too short")
	// ErrPasswordTooLong means a password is longer than MaxPasswordLen.
	ErrPasswordTooLong = errors.New("auth: password too long")
	// ErrInvalidHash means a stored password hash is not a PHC argon2id string
	// this package accepts.
	ErrInvalidHash = errors.New("auth: invalid password hash")

	// ErrInvalidToken means an access token failed verification for any reason.
	ErrInvalidToken = errors.New("auth: invalid access token")
	// ErrTokenExpired is wrapped together with ErrInvalidToken when the only
	// problem is expiry, so a client can be told to refresh.
	ErrTokenExpired = errors.New("auth: access token expired")
	// ErrUnknownKey is wrapped together with ErrInvalidToken when the token's
	// kid names no key this issuer still accepts.
	ErrUnknownKey = errors.New("auth: unknown signing key")

	// ErrInvalidRefresh means a refresh token is malformed, unknown, expired,
	// or belongs to a revoked or expired session. The client must sign in again.
	ErrInvalidRefresh = errors.New("auth: invalid refresh token")
	// ErrRefreshReused means an already-used refresh token was presented; its
	// whole session has been revoked. SessionStore.UseRefresh returns it too.
	ErrRefreshReused = errors.New("auth: refresh token reused")
	// ErrRefreshNotFound is returned by SessionStore.UseRefresh for an unknown hash.
	ErrRefreshNotFound = errors.New("auth: refresh token not found")
	// ErrSessionNotFound is returned by SessionStore for an unknown session ID,
	// and by Sessions.RevokeSession for a session that is not the user's.
	ErrSessionNotFound = errors.New("auth: session not found")

	// ErrUnknownPrincipal is returned by a PrincipalLoader when the user of a
	// valid token no longer exists or may no longer sign in.
	ErrUnknownPrincipal = errors.New("auth: unknown principal")

	// ErrOIDCState means the SSO callback's state is missing, expired, forged,
	// or does not match the browser's state cookie (CSRF or a stale tab).
	ErrOIDCState = errors.New("auth: oidc state mismatch")
	// ErrOIDCProvider means the identity provider reported an error or could
	// not be reached or understood.
	ErrOIDCProvider = errors.New("auth: oidc provider error")
	// ErrOIDCIDToken means the provider's ID token failed verification
	// (signature, iss, aud, exp, nonce).
	ErrOIDCIDToken = errors.New("auth: invalid oidc id token")
)

// Package auth authenticates the people who use the control plane: password
// hashing, our own short-lived access JWTs and their JWKS, rotating refresh
// tokens grouped in sessions, the HTTP middleware that turns a bearer token
// into a viewer, a sign-in throttle, and OIDC single sign-on.
//
// Persistence is reached only through the narrow interfaces declared here
// (SigningKeyStore, SessionStore, PrincipalLoader); package authtest holds
// in-memory implementations for tests.
package auth

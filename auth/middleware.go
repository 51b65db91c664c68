package auth

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/oais/oais/internal/viewer"
)

// Verifier verifies an access token; *Issuer is one.
type Verifier interface {
	Verify(ctx context.Context, token string) (*Claims, error)
}

var _ Verifier = (*Issuer)(nil)

// PrincipalLoader loads the viewer of a verified token: the user with their
// workspace memberships. It returns ErrUnknownPrincipal for a user that no
// longer exists or is disabled, or whose session (the token's sid) was
// signed out, revoked or has ended, so that a signed-out access token stops
// working at once rather than when it expires; any other error is treated
// as an outage. The middleware sets SessionID on (a copy of) the result and
// never trusts System from it.
type PrincipalLoader interface {
	Principal(ctx context.Context, userID, sessionID string) (*viewer.Viewer, error)
}

// ServicePrincipalLoader is a PrincipalLoader that also accepts service
// tokens (ServiceTokenPrefix): it returns the token's viewer, one workspace
// with the token's role and ServiceTokenID set, or ErrUnknownPrincipal for
// an unknown, revoked or expired token or one whose creator may no longer
// act there. Middleware hands it every bearer token with the prefix, so
// every surface it guards (/graphql, /api/v1) accepts service tokens, and
// only through it.
type ServicePrincipalLoader interface {
	PrincipalLoader
	ServicePrincipal(ctx context.Context, token string) (*viewer.Viewer, error)
}

// Middleware authenticates control-plane requests from their
// "Authorization: Bearer <jwt>" header only (never a cookie or query
// parameter, so cross-site requests cannot carry credentials). A valid
// token puts its viewer into the request context; a missing or invalid one
// lets the request continue without a viewer, because some GraphQL
// operations (signIn, refreshSession) need none — wrap the rest in
// RequireViewer or let the privacy rules deny. A loader failure other than
// ErrUnknownPrincipal answers 503, so an outage does not look like a
// signed-out user.
func Middleware(v Verifier, l PrincipalLoader) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			token, ok := BearerToken(r)
			if !ok {
				next.ServeHTTP(w, r)
				return
			}
			ctx := r.Context()
			if IsServiceToken(token) {
				serveServiceToken(w, r, next, l, token)
				return
			}
			claims, err := v.Verify(ctx, token)
			if err != nil {
				slog.DebugContext(ctx, "auth: bearer token rejected", slog.Any("error", err))
				next.ServeHTTP(w, r)
				return
			}
			p, err := l.Principal(ctx, claims.Subject, claims.SessionID)
			switch {
			case errors.Is(err, ErrUnknownPrincipal) || (err == nil && p == nil):
				slog.InfoContext(ctx, "auth: token for unknown principal", slog.String("user_id", claims.Subject))
				next.ServeHTTP(w, r)
				return
			case err != nil:
				slog.ErrorContext(ctx, "auth: load principal", slog.String("user_id", claims.Subject), slog.Any("error", err))
				writeJSONError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "temporarily unavailable")
				return
			}
			vw := *p
			vw.System = false
			vw.SessionID = claims.SessionID
			next.ServeHTTP(w, r.WithContext(viewer.NewContext(ctx, &vw)))
		})
	}
}

// serveServiceToken is Middleware for a service token: the loader decides,
// as for a JWT's user.
func serveServiceToken(w http.ResponseWriter, r *http.Request, next http.Handler, l PrincipalLoader, token string) {
	ctx := r.Context()
	sl, ok := l.(ServicePrincipalLoader)
	if !ok {
		next.ServeHTTP(w, r)
		return
	}
	p, err := sl.ServicePrincipal(ctx, token)
	switch {
	case errors.Is(err, ErrUnknownPrincipal) || errors.Is(err, ErrInvalidToken) || (err == nil && p == nil):
		slog.InfoContext(ctx, "auth: service token refused", slog.Any("error", err))
		next.ServeHTTP(w, r)
		return
	case err != nil:
		slog.ErrorContext(ctx, "auth: load service token", slog.Any("error", err))
		writeJSONError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "temporarily unavailable")
		return
	}
	vw := *p
	vw.System, vw.SessionID = false, ""
	if vw.ServiceTokenID == "" {
		// A loader that forgot to say so must not make the token a person.
		next.ServeHTTP(w, r)
		return
	}
	next.ServeHTTP(w, r.WithContext(viewer.NewContext(ctx, &vw)))
}

// RequireViewer answers 401 with a GraphQL-shaped JSON error unless the
// request carries a viewer.
func RequireViewer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if viewer.FromContext(r.Context()) == nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="oais"`)
			writeJSONError(w, http.StatusUnauthorized, "UNAUTHENTICATED", "authentication required")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// writeJSONError writes {"errors":[{"message":…,"extensions":{"code":…}}]},
// the shape the dashboard's GraphQL client already understands, and beside
// it {"error":{"code":…,"message":…}}, the REST API's shape
// (internal/controlplane/restapi): the middleware sits in front of both.
func writeJSONError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	// code and msg are constants of this package; no escaping needed.
	_, _ = w.Write([]byte(`{"errors":[{"message":"` + msg + `","extensions":{"code":"` + code + `"}}],` +
		`"error":{"code":"` + code + `","message":"` + msg + `"}}`))
}

// BearerToken returns the token of an "Authorization: Bearer" header
// (scheme case-insensitive, RFC 7235).
func BearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// ClientIP returns the client's address. X-Forwarded-For is honoured only
// when the direct peer is in trustedProxies, and then read from the right,
// skipping trusted hops: the entries left of the first untrusted hop were
// written by the client and may be forged. It returns the zero Addr if
// RemoteAddr cannot be parsed.
func ClientIP(r *http.Request, trustedProxies []netip.Prefix) netip.Addr {
	peer := parseAddr(r.RemoteAddr)
	if !peer.IsValid() || !trusted(peer, trustedProxies) {
		return peer
	}
	var hops []string
	for _, h := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(h, ",")...)
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a := parseAddr(strings.TrimSpace(hops[i]))
		if !a.IsValid() {
			// Garbage from here leftwards is not to be believed; the last
			// hop we could parse is the best we know.
			break
		}
		client = a
		if !trusted(a, trustedProxies) {
			break
		}
	}
	return client
}

func trusted(a netip.Addr, prefixes []netip.Prefix) bool {
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseAddr accepts "ip", "ip:port" and "[ipv6]:port", and unmaps
// IPv4-in-IPv6 so that prefixes compare as configured.
func parseAddr(s string) netip.Addr {
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap().WithZone("")
}

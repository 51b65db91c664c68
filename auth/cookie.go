package auth

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// The browser's session (issue 15): its refresh token lives in an HttpOnly
// cookie that script cannot read and that only the paths under SessionPath
// receive; its access token lives in the dashboard's memory. API clients
// that send no SessionModeHeader keep getting both tokens in the payload.
const (
	// RefreshCookie names the cookie that carries the browser's refresh token.
	RefreshCookie = "oais_refresh"
	// SessionPath is the cookie's Path: the browser sends the refresh
	// token to RefreshPath and SignOutPath, and nowhere else (not /graphql).
	SessionPath = "/auth/session"
	// RefreshPath (POST) exchanges the cookie for an access token and a
	// new cookie.
	RefreshPath = SessionPath + "/refresh"
	// SignOutPath (POST) ends the cookie's session and clears the cookie.
	SignOutPath = SessionPath + "/signout"
	// SessionModeHeader, sent with the value SessionModeCookie, asks for
	// the refresh token as the cookie. The session endpoints require it too:
	// a custom header cannot be sent cross-site without a CORS preflight,
	// which the control plane never grants, so it doubles as CSRF proof.
	SessionModeHeader = "X-OAIS-Session"
	SessionModeCookie = "cookie"
)

// CookieOptions shape the refresh cookie.
type CookieOptions struct {
	// Secure marks the cookie Secure: set it when OAIS_PUBLIC_URL is
	// https. Without it (http://127.0.0.1 in tests) the browser would drop
	// a Secure cookie.
	Secure bool
	// MaxAge is the cookie's lifetime; DefaultRefreshTTL if 0. The server
	// decides whether its token still works; this only bounds how long the
	// browser keeps it.
	MaxAge time.Duration
}

// SetRefreshCookie writes token into the refresh cookie: HttpOnly,
// SameSite=Strict, Path=SessionPath, and Secure per opts.
func SetRefreshCookie(w http.ResponseWriter, token string, opts CookieOptions) {
	age := opts.MaxAge
	if age <= 0 {
		age = DefaultRefreshTTL
	}
	http.SetCookie(w, &http.Cookie{
		Name: RefreshCookie, Value: token, Path: SessionPath,
		MaxAge: int(age / time.Second), HttpOnly: true, Secure: opts.Secure, SameSite: http.SameSiteStrictMode,
	})
}

// ClearRefreshCookie tells the browser to forget the refresh cookie.
func ClearRefreshCookie(w http.ResponseWriter, opts CookieOptions) {
	http.SetCookie(w, &http.Cookie{
		Name: RefreshCookie, Value: "", Path: SessionPath,
		MaxAge: -1, HttpOnly: true, Secure: opts.Secure, SameSite: http.SameSiteStrictMode,
	})
}

// RefreshFromCookie returns the refresh token of r's cookie.
func RefreshFromCookie(r *http.Request) (string, bool) {
	c, err := r.Cookie(RefreshCookie)
	if err != nil || c.Value == "" {
		return "", false
	}
	return c.Value, true
}

// WantsCookie reports whether the client asked for its refresh token as
// the cookie (SessionModeHeader).
func WantsCookie(r *http.Request) bool {
	return strings.EqualFold(strings.TrimSpace(r.Header.Get(SessionModeHeader)), SessionModeCookie)
}

// SameOrigin is the CSRF check of the cookie endpoints: the request must
// carry SessionModeHeader, and an Origin header, when present, must be the
// public URL's origin or the request's own host. Browsers always send
// Origin on a cross-site POST, and cannot send the custom header there.
func SameOrigin(r *http.Request, public *url.URL) bool {
	if !WantsCookie(r) {
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	o, err := url.Parse(origin)
	if err != nil || o.Host == "" {
		return false
	}
	if public != nil && strings.EqualFold(o.Scheme, public.Scheme) && strings.EqualFold(o.Host, public.Host) {
		return true
	}
	return strings.EqualFold(o.Host, r.Host)
}

// cookieJar holds the refresh token a GraphQL operation made, until the
// response's headers go out.
type cookieJar struct {
	mu    sync.Mutex
	token string
	set   bool
}

type jarKey struct{}

// KeepRefreshInCookie hands token to the request's refresh cookie when the
// client asked for one (RefreshCookies put a jar in ctx) and reports
// whether it did; the caller then leaves the token out of its answer.
func KeepRefreshInCookie(ctx context.Context, token string) bool {
	jar, ok := ctx.Value(jarKey{}).(*cookieJar)
	if !ok || token == "" {
		return false
	}
	jar.mu.Lock()
	defer jar.mu.Unlock()
	jar.token, jar.set = token, true
	return true
}

// RefreshCookies is the middleware of /graphql that lets sign-in
// operations answer a browser (SessionModeHeader: cookie) with the cookie:
// whatever KeepRefreshInCookie received is written as Set-Cookie before
// the response's headers.
func RefreshCookies(opts CookieOptions) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !WantsCookie(r) {
				next.ServeHTTP(w, r)
				return
			}
			jar := &cookieJar{}
			cw := &cookieWriter{ResponseWriter: w, jar: jar, opts: opts}
			next.ServeHTTP(cw, r.WithContext(context.WithValue(r.Context(), jarKey{}, jar)))
		})
	}
}

// cookieWriter adds the jar's cookie just before the headers are sent.
type cookieWriter struct {
	http.ResponseWriter
	jar   *cookieJar
	opts  CookieOptions
	wrote bool
}

func (c *cookieWriter) flushCookie() {
	if c.wrote {
		return
	}
	c.wrote = true
	c.jar.mu.Lock()
	token, set := c.jar.token, c.jar.set
	c.jar.mu.Unlock()
	if set {
		SetRefreshCookie(c.ResponseWriter, token, c.opts)
	}
}

func (c *cookieWriter) WriteHeader(status int) {
	c.flushCookie()
	c.ResponseWriter.WriteHeader(status)
}

func (c *cookieWriter) Write(b []byte) (int, error) {
	c.flushCookie()
	return c.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (c *cookieWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

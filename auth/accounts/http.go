package accounts

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/oais/oais/auth"
	"github.com/oais/oais/internal/audit"
)

// Dashboard routes the SSO callback redirects to. The session travels
// only in the refresh cookie (auth.RefreshCookie), never in the URL: a
// link to CompletePath carries nothing, and the dashboard there exchanges
// its own cookie for an access token. (It used to read tokens from the
// fragment, so a crafted link signed a victim into the attacker's
// account, issue 15.)
const (
	CompletePath = "/auth/complete"
	SignInPath   = "/signin"
)

// OIDCHandlers returns the handlers to mount at auth.OIDCLoginPath and
// auth.OIDCCallbackPath. The callback verifies the provider's answer,
// provisions the user (applying rules on their first SSO sign-in), starts a session, sets
// its refresh token as the HttpOnly refresh cookie and redirects to
// publicURL + CompletePath, with nothing in the URL;
// on failure it redirects to publicURL + SignInPath + "?error=<code>" with
// one of the codes of oidcErrorCode and nothing more.
//
// The client address is the one the server's middleware put in the
// context with audit.WithIP (honouring trusted proxies), else the peer's.
func OIDCHandlers(o *auth.OIDC, acc *Accounts, publicURL string, rules ...DomainRule) (login, callback http.Handler) {
	base := strings.TrimSuffix(publicURL, "/")
	cookies := auth.CookieOptions{Secure: strings.HasPrefix(strings.ToLower(publicURL), "https:")}
	callback = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", "GET")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Referrer-Policy", "no-referrer")
		ctx := r.Context()
		ip := audit.IPFrom(ctx)
		if !ip.IsValid() {
			ip = auth.ClientIP(r, nil)
		}
		ctx = WithUserAgent(audit.WithIP(ctx, ip), r.UserAgent())
		id, err := o.Callback(w, r)
		if err == nil {
			var tok auth.Tokens
			if tok, _, err = acc.SignInOIDC(ctx, *id, ip, rules...); err == nil {
				auth.SetRefreshCookie(w, tok.RefreshToken, cookies)
				http.Redirect(w, r, base+CompletePath, http.StatusFound)
				return
			}
		}
		code := oidcErrorCode(err)
		lvl := slog.LevelWarn
		if code == "server_error" {
			lvl = slog.LevelError
		}
		acc.log.Log(ctx, lvl, "accounts: SSO sign-in failed", slog.String("code", code), slog.Any("error", err))
		http.Redirect(w, r, base+SignInPath+"?error="+code, http.StatusFound)
	})
	return o.LoginHandler(), callback
}

// oidcErrorCode maps an SSO failure to the short code the sign-in page
// shows; the only place that decides what a browser learns.
func oidcErrorCode(err error) string {
	switch {
	case errors.Is(err, auth.ErrOIDCState):
		return "sso_state" // stale tab or forged callback: start again
	case errors.Is(err, auth.ErrOIDCProvider):
		return "sso_provider"
	case errors.Is(err, auth.ErrOIDCIDToken):
		return "sso_token"
	case errors.Is(err, ErrEmailTaken):
		return "sso_account_exists"
	case errors.Is(err, ErrInvalidEmail):
		return "sso_email"
	case errors.Is(err, ErrAccountDisabled):
		return "account_disabled"
	}
	return "server_error"
}

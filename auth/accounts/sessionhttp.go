package accounts

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/oais/oais/auth"
	"github.com/oais/oais/internal/audit"
)

// SessionHandlers returns the browser's session endpoints, to mount at
// POST auth.RefreshPath and POST auth.SignOutPath. Both read the refresh
// token from the HttpOnly cookie only, and both refuse (403) a request
// without auth.SessionModeHeader or from another origin (auth.SameOrigin):
// with SameSite=Strict besides, no other site can make a browser use them.
//
// refresh answers {"accessToken","expiresAt","user":{"id","email"}} and
// rotates the cookie; a refused cookie answers 401 UNAUTHENTICATED and is
// cleared. signout ends the cookie's session, clears it and answers 204.
func SessionHandlers(acc *Accounts, public *url.URL) (refresh, signout http.Handler) {
	opts := auth.CookieOptions{Secure: public != nil && public.Scheme == "https"}
	guard := func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Cache-Control", "no-store")
		if !auth.SameOrigin(r, public) {
			writeError(w, http.StatusForbidden, "FORBIDDEN", "send "+auth.SessionModeHeader+": cookie from the dashboard's own origin")
			return false
		}
		return true
	}
	refresh = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !guard(w, r) {
			return
		}
		token, ok := auth.RefreshFromCookie(r)
		if !ok {
			writeError(w, http.StatusUnauthorized, "UNAUTHENTICATED", "no session: sign in")
			return
		}
		ctx := WithUserAgent(r.Context(), r.UserAgent())
		tok, u, err := acc.Refresh(ctx, token, audit.IPFrom(ctx))
		switch {
		case errors.Is(err, auth.ErrInvalidRefresh), errors.Is(err, auth.ErrRefreshReused), errors.Is(err, auth.ErrUnknownPrincipal):
			auth.ClearRefreshCookie(w, opts)
			writeError(w, http.StatusUnauthorized, "UNAUTHENTICATED", "your session has ended: sign in again")
			return
		case err != nil:
			acc.log.ErrorContext(ctx, "accounts: refresh from cookie", slog.Any("error", err))
			writeError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "temporarily unavailable: try again")
			return
		}
		auth.SetRefreshCookie(w, tok.RefreshToken, opts)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"accessToken": tok.AccessToken,
			"expiresAt":   tok.ExpiresAt.UTC().Format(time.RFC3339),
			"user":        map[string]string{"id": u.ID, "email": u.Email},
		})
	})
	signout = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !guard(w, r) {
			return
		}
		if token, ok := auth.RefreshFromCookie(r); ok {
			ctx := r.Context()
			if err := acc.SignOut(ctx, token, audit.IPFrom(ctx)); err != nil && !errors.Is(err, auth.ErrInvalidRefresh) {
				acc.log.ErrorContext(ctx, "accounts: sign out from cookie", slog.Any("error", err))
				writeError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "temporarily unavailable: try again")
				return
			}
		}
		auth.ClearRefreshCookie(w, opts)
		w.WriteHeader(http.StatusNoContent)
	})
	return refresh, signout
}

// writeError answers the GraphQL error shape the dashboard already reads.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []any{map[string]any{"message": msg, "extensions": map[string]string{"code": code}}}})
}

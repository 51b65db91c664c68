// Command oidcmock is a stand-in OpenID Connect provider for the dashboard's
// browser tests (web/e2e/flows.test.mjs): github.com/oauth2-proxy/mockoidc
// on a loopback port, signing in one person without a login form. It prints
// {"issuer","client_id","client_secret"} as one JSON line, then serves until
// SIGTERM or SIGINT. Never run it anywhere real: it signs anyone in.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/oauth2-proxy/mockoidc"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	email := flag.String("email", "sso.user@example.com", "the verified e-mail address every sign-in gets")
	flag.Parse()
	if err := run(*addr, *email); err != nil {
		fmt.Fprintln(os.Stderr, "oidcmock:", err)
		os.Exit(1)
	}
}

func run(addr, email string) error {
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		return err
	}
	// Every authorization signs in the same person, by e-mail (the
	// provider's subject follows the address).
	user := func() mockoidc.User {
		u := mockoidc.DefaultUser()
		u.Email, u.Subject = email, "sub-"+strings.ReplaceAll(email, "@", ".")
		return u
	}
	if err := m.AddMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == mockoidc.AuthorizationEndpoint {
				m.QueueUser(user())
			}
			next.ServeHTTP(w, r)
		})
	}); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	if err := m.Start(ln, nil); err != nil {
		return err
	}
	defer func() { _ = m.Shutdown() }()
	if err := json.NewEncoder(os.Stdout).Encode(map[string]string{
		"issuer": m.Issuer(), "client_id": m.ClientID, "client_secret": m.ClientSecret,
	}); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	<-ctx.Done()
	return nil
}

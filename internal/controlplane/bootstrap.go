package controlplane

import (
	"context"
	"fmt"
	"io"

	"github.com/oais/oais/auth/accounts"
	"github.com/oais/oais/ent/membership"
	"github.com/oais/oais/ent/user"
	"github.com/oais/oais/internal/apikeys"
	"github.com/oais/oais/internal/viewer"
)

// bootstrap creates the first admin (once, when no user exists), with a
// Default workspace and a quickstart key, and prints how to use them. The
// password (when generated) and the key's secret are printed here once, to
// the terminal, never to the log.
func (s *Server) bootstrap(ctx context.Context, out io.Writer) error {
	created, password, err := s.Accounts.EnsureBootstrapAdmin(ctx, s.Config.BootstrapEmail, s.Config.BootstrapPass.Reveal())
	if err != nil {
		return fmt.Errorf("OAIS_BOOTSTRAP_ADMIN_EMAIL: create the first admin: %w", err)
	}
	if !created {
		return nil
	}
	// Accounts stores addresses normalised; look the admin up the same way.
	email, err := accounts.NormalizeEmail(s.Config.BootstrapEmail)
	if err != nil {
		return fmt.Errorf("OAIS_BOOTSTRAP_ADMIN_EMAIL: %w", err)
	}
	sys := viewer.SystemContext(ctx)
	u, err := s.Store.Ent.User.Query().Where(user.Email(email)).Only(sys)
	if err != nil {
		return fmt.Errorf("bootstrap: find the admin: %w", err)
	}
	m, err := s.Store.Ent.Membership.Query().Where(membership.UserID(u.ID)).First(sys)
	if err != nil {
		return fmt.Errorf("bootstrap: find the admin's workspace: %w", err)
	}
	admin := viewer.NewContext(ctx, &viewer.Viewer{UserID: u.ID, Email: u.Email, SiteAdmin: true, Roles: map[string]viewer.Role{m.WorkspaceID: viewer.RoleOwner}})
	key, err := s.Keys.Create(admin, s.Store.Ent, apikeys.CreateParams{WorkspaceID: m.WorkspaceID, Label: "quickstart"})
	if err != nil {
		return fmt.Errorf("bootstrap: create the quickstart key: %w", err)
	}
	pw := "(the password in OAIS_BOOTSTRAP_ADMIN_PASSWORD)"
	if password != "" {
		pw = password
	}
	fmt.Fprintf(out, `
  oais is ready.

  Dashboard:  %s
  Sign in:    %s
  Password:   %s   (shown once; change it after signing in)

  A quickstart API key was created in the "Default" workspace (shown once):
    %s

  Try the gateway:
    curl %s/v1/chat/completions \
      -H "Authorization: Bearer %s" \
      -H "Content-Type: application/json" \
      -d '{"model":"mock-gpt","messages":[{"role":"user","content":"Hello!"}]}'

`, s.Config.PublicURL, email, pw, key.Secret.Reveal(), s.Config.GatewayURL, key.Secret.Reveal())
	return nil
}

package accounts_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/oais/oais/auth"
	"github.com/oais/oais/auth/accounts"
	"github.com/oais/oais/ent"
	"github.com/oais/oais/ent/membership"
	"github.com/oais/oais/ent/user"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/storetest"
	"github.com/oais/oais/internal/viewer"
)

func TestParseDomainRules(t *testing.T) {
	tests := []struct {
		name, in string
		want     []accounts.DomainRule
		wantErr  bool
	}{
		{name: "empty", in: ""},
		{name: "one", in: "Example.com=ws_123:developer",
			want: []accounts.DomainRule{{Domain: "example.com", WorkspaceID: "ws_123", Role: viewer.RoleDeveloper}}},
		{name: "two with spaces", in: " a.test=ws_1:VIEWER , b.test=ws_2:ADMIN ,",
			want: []accounts.DomainRule{{"a.test", "ws_1", viewer.RoleViewer}, {"b.test", "ws_2", viewer.RoleAdmin}}},
		{name: "no role", in: "a.test=ws_1", wantErr: true},
		{name: "bad role", in: "a.test=ws_1:ROOT", wantErr: true},
		{name: "not a workspace id", in: "a.test=usr_1:VIEWER", wantErr: true},
		{name: "email instead of domain", in: "me@a.test=ws_1:VIEWER", wantErr: true},
		{name: "no domain", in: "=ws_1:VIEWER", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := accounts.ParseDomainRules(tt.in)
			if (err != nil) != tt.wantErr || fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("ParseDomainRules(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestOIDCErrorCode(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("%w: state does not match", auth.ErrOIDCState), "sso_state"},
		{fmt.Errorf("%w: token endpoint status 400", auth.ErrOIDCProvider), "sso_provider"},
		{fmt.Errorf("%w: nonce", auth.ErrOIDCIDToken), "sso_token"},
		{fmt.Errorf("%w: unverified", accounts.ErrEmailTaken), "sso_account_exists"},
		{accounts.ErrInvalidEmail, "sso_email"},
		{accounts.ErrAccountDisabled, "account_disabled"},
		{errors.New("pq: connection refused to 10.0.0.5"), "server_error"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := accounts.OIDCErrorCode(tt.err); got != tt.want {
				t.Fatalf("code(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

func TestProvisionOIDC(t *testing.T) {
	const iss = "https://idp.example"
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		f := newFixture(t, s)
		ws := mkWorkspace(t, s, "Corp")
		rules := []accounts.DomainRule{
			{Domain: "corp.example", WorkspaceID: ws.ID, Role: viewer.RoleDeveloper},
			{Domain: "corp.example", WorkspaceID: "ws_missing", Role: viewer.RoleAdmin},
		}
		verified := func(q *ent.UserCreate) { q.SetEmailVerifiedAt(time.Now()) }
		local := mkUser(t, s, "local@corp.example", "local password", verified)
		placeholder := mkUser(t, s, "invitee@corp.example", "") // no credential: an invitee of before issue 15
		mkUser(t, s, "unverified@example.com", "their password")
		mkUser(t, s, "linked@example.com", "", func(q *ent.UserCreate) { q.SetOidcIssuer(iss).SetOidcSubject("sub-other") })
		mkUser(t, s, "off@example.com", "", func(q *ent.UserCreate) { q.SetOidcIssuer(iss).SetOidcSubject("sub-off").SetDisabled(true) })

		tests := []struct {
			name    string
			id      auth.Identity
			wantErr error
			check   func(t *testing.T, u *ent.User)
		}{
			{
				name: "new user gets the domain's membership",
				id:   auth.Identity{Issuer: iss, Subject: "sub-new", Email: "New@Corp.Example", EmailVerified: true, Name: "New Person"},
				check: func(t *testing.T, u *ent.User) {
					if u.Email != "new@corp.example" || u.PasswordHash != "" || u.Name != "New Person" || u.OidcSubject != "sub-new" || u.SiteAdmin || u.EmailVerifiedAt == nil {
						t.Fatalf("user %+v", u)
					}
					wantRole(t, s, ws.ID, u.ID, membership.RoleDEVELOPER)
				},
			},
			{
				name: "same identity again is the same user, even with a new email",
				id:   auth.Identity{Issuer: iss, Subject: "sub-new", Email: "renamed@corp.example", EmailVerified: true},
				check: func(t *testing.T, u *ent.User) {
					if u.Email != "new@corp.example" {
						t.Fatalf("user %+v", u)
					}
				},
			},
			{
				name: "verified email links the local account",
				id:   auth.Identity{Issuer: iss, Subject: "sub-local", Email: "local@corp.example", EmailVerified: true},
				check: func(t *testing.T, u *ent.User) {
					if u.ID != local.ID || u.OidcSubject != "sub-local" || u.PasswordHash == "" {
						t.Fatalf("user %+v, want %s linked with its password kept", u, local.ID)
					}
					wantRole(t, s, ws.ID, u.ID, membership.RoleDEVELOPER)
				},
			},
			{
				name: "a row without credentials is linked, and verified by the provider's word",
				id:   auth.Identity{Issuer: iss, Subject: "sub-invitee", Email: "invitee@corp.example", EmailVerified: true},
				check: func(t *testing.T, u *ent.User) {
					if u.ID != placeholder.ID || u.OidcSubject != "sub-invitee" || u.EmailVerifiedAt == nil {
						t.Fatalf("user %+v, want %s linked and verified", u, placeholder.ID)
					}
				},
			},
			{
				name:    "unverified email does not link",
				id:      auth.Identity{Issuer: iss, Subject: "sub-attacker", Email: "unverified@example.com", EmailVerified: false},
				wantErr: accounts.ErrEmailTaken,
			},
			{
				name:    "account linked to another subject",
				id:      auth.Identity{Issuer: iss, Subject: "sub-third", Email: "linked@example.com", EmailVerified: true},
				wantErr: accounts.ErrEmailTaken,
			},
			{
				name: "unverified new user gets no domain membership",
				id:   auth.Identity{Issuer: iss, Subject: "sub-unverified", Email: "fresh@corp.example"},
				check: func(t *testing.T, u *ent.User) {
					if u.EmailVerifiedAt != nil {
						t.Fatalf("an address the provider did not verify counts as verified")
					}
					if n, _ := s.Ent.Membership.Query().Where(membership.UserID(u.ID)).Count(sys()); n != 0 {
						t.Fatalf("%d memberships for an unverified email", n)
					}
				},
			},
			{
				name:    "disabled user",
				id:      auth.Identity{Issuer: iss, Subject: "sub-off", Email: "off@example.com", EmailVerified: true},
				wantErr: accounts.ErrAccountDisabled,
			},
			{
				name:    "no usable email",
				id:      auth.Identity{Issuer: iss, Subject: "sub-noemail"},
				wantErr: accounts.ErrInvalidEmail,
			},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				u, err := f.acc.ProvisionOIDC(ctx, tt.id, rules...)
				if tt.wantErr != nil {
					if !errors.Is(err, tt.wantErr) {
						t.Fatalf("err = %v, want %v", err, tt.wantErr)
					}
					if n, _ := s.Ent.User.Query().Where(user.OidcSubject(tt.id.Subject)).Count(sys()); n > 0 && tt.wantErr != accounts.ErrAccountDisabled {
						t.Fatalf("a refused identity was linked")
					}
					return
				}
				if err != nil {
					t.Fatalf("ProvisionOIDC: %v", err)
				}
				tt.check(t, u)
			})
		}
	})
}

func wantRole(t *testing.T, s *store.Store, ws, userID string, role membership.Role) {
	t.Helper()
	m, err := s.Ent.Membership.Query().Where(membership.WorkspaceID(ws), membership.UserID(userID)).Only(sys())
	if err != nil || m.Role != role {
		t.Fatalf("membership %+v, %v; want %s", m, err, role)
	}
}

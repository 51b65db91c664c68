package accounts_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/oais/oais/auth"
	"github.com/oais/oais/auth/accounts"
	"github.com/oais/oais/auth/authtest"
	"github.com/oais/oais/ent/membership"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/storetest"
)

// inbox captures the links accounts mails, synchronously.
type inbox struct {
	mu    sync.Mutex
	links []link
}

type link struct{ kind, to, token string }

func (b *inbox) Verification(to, token string, _ time.Time) { b.add("verify", to, token) }
func (b *inbox) PasswordReset(to, token string, _ time.Time) {
	b.add("reset", to, token)
}

func (b *inbox) add(kind, to, token string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.links = append(b.links, link{kind, to, token})
}

// last returns the newest link of kind to `to`, failing when there is none.
func (b *inbox) last(t *testing.T, kind, to string) string {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := len(b.links) - 1; i >= 0; i-- {
		if l := b.links[i]; l.kind == kind && l.to == to {
			return l.token
		}
	}
	t.Fatalf("no %s link mailed to %s (mailed: %v)", kind, to, b.links)
	return ""
}

func (b *inbox) count(kind, to string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, l := range b.links {
		if l.kind == kind && l.to == to {
			n++
		}
	}
	return n
}

// mailFixture is a fixture whose mail lands in an inbox and whose accounts
// read clock.
func mailFixture(t *testing.T, s *store.Store, mod ...func(*accounts.Options)) (*fixture, *inbox, *authtest.Clock) {
	t.Helper()
	box := &inbox{}
	clock := authtest.NewClock(time.Now())
	f := newFixture(t, s, append([]func(*accounts.Options){func(o *accounts.Options) { o.Mail, o.Now = box, clock.Now }}, mod...)...)
	return f, box, clock
}

func verified(t *testing.T, f *fixture, userID string) bool {
	t.Helper()
	ok, err := f.acc.EmailVerified(context.Background(), userID)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestVerifyEmail(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		f, box, clock := mailFixture(t, s)
		_, u, err := f.acc.SignUp(ctx, "ann@example.com", "a good password", clientIP)
		if err != nil {
			t.Fatal(err)
		}
		if verified(t, f, u.ID) {
			t.Fatal("a fresh sign-up counts as verified")
		}
		token := box.last(t, "verify", "ann@example.com")
		for _, bad := range []string{"", "garbage", token[:len(token)-1] + "x"} {
			if err := f.acc.VerifyEmail(ctx, bad); !errors.Is(err, accounts.ErrLinkInvalid) {
				t.Fatalf("VerifyEmail(%q) = %v, want ErrLinkInvalid", bad, err)
			}
		}
		if err := f.acc.VerifyEmail(ctx, token); err != nil {
			t.Fatalf("VerifyEmail: %v", err)
		}
		if !verified(t, f, u.ID) {
			t.Fatal("not verified after the link")
		}
		if err := f.acc.VerifyEmail(ctx, token); !errors.Is(err, accounts.ErrLinkInvalid) {
			t.Fatalf("a link used twice: %v", err)
		}

		t.Run("expired", func(t *testing.T) {
			_, v, err := f.acc.SignUp(ctx, "late@example.com", "a good password", clientIP)
			if err != nil {
				t.Fatal(err)
			}
			clock.Advance(accounts.VerifyTTL + time.Second)
			if err := f.acc.VerifyEmail(ctx, box.last(t, "verify", "late@example.com")); !errors.Is(err, accounts.ErrLinkInvalid) {
				t.Fatalf("an expired link: %v", err)
			}
			if verified(t, f, v.ID) {
				t.Fatal("verified by an expired link")
			}
			if err := f.acc.SendVerification(ctx, v.ID, clientIP); err != nil {
				t.Fatal(err)
			}
			if err := f.acc.VerifyEmail(ctx, box.last(t, "verify", "late@example.com")); err != nil || !verified(t, f, v.ID) {
				t.Fatalf("a new link: %v", err)
			}
		})
		t.Run("for an address the account no longer has", func(t *testing.T) {
			_, v, err := f.acc.SignUp(ctx, "old@example.com", "a good password", clientIP)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Ent.User.UpdateOneID(v.ID).SetEmail("new@example.com").Exec(sys()); err != nil {
				t.Fatal(err)
			}
			if err := f.acc.VerifyEmail(ctx, box.last(t, "verify", "old@example.com")); !errors.Is(err, accounts.ErrLinkInvalid) {
				t.Fatalf("a link to the old address verified the new one: %v", err)
			}
		})
	})
}

func TestSendVerificationBudget(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		f, box, _ := mailFixture(t, s)
		_, u, err := f.acc.SignUp(ctx, "flood@example.com", "a good password", clientIP)
		if err != nil {
			t.Fatal(err)
		}
		// One link at sign-up; the rest of the hourly budget from many
		// addresses, then nothing more however they ask.
		for i := range 10 {
			ip := clientIP
			if i%2 == 1 {
				ip = otherIP
			}
			err := f.acc.SendVerification(ctx, u.ID, ip)
			var th *accounts.ThrottledError
			if err != nil && !errors.As(err, &th) {
				t.Fatal(err)
			}
		}
		if n := box.count("verify", "flood@example.com"); n != accounts.MaxLinksPerHour {
			t.Fatalf("%d verification links mailed in an hour, want %d", n, accounts.MaxLinksPerHour)
		}
	})
}

// TestRequestPasswordReset: the answer is the same for every address (no
// account, an account, an SSO-only or disabled one); only real accounts
// get mail, and nobody gets more than MaxLinksPerHour.
func TestRequestPasswordReset(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		f, box, _ := mailFixture(t, s, func(o *accounts.Options) { o.SSODomains = []string{"sso.example"} })
		mkUser(t, s, "has@example.com", "a password")
		mkUser(t, s, "sso@sso.example", "a password")
		off := mkUser(t, s, "off@example.com", "a password")
		if err := s.Ent.User.UpdateOne(off).SetDisabled(true).Exec(sys()); err != nil {
			t.Fatal(err)
		}
		for _, e := range []string{"has@example.com", "nobody@example.com", "sso@sso.example", "off@example.com", "HAS@example.com "} {
			if err := f.acc.RequestPasswordReset(ctx, e, otherIP); err != nil {
				t.Fatalf("RequestPasswordReset(%q) = %v, want nil like every address", e, err)
			}
		}
		if n := box.count("reset", "has@example.com"); n != 2 {
			t.Fatalf("%d links to the account, want 2", n)
		}
		for _, e := range []string{"nobody@example.com", "sso@sso.example", "off@example.com"} {
			if n := box.count("reset", e); n != 0 {
				t.Fatalf("%d links to %s", n, e)
			}
		}
		if err := f.acc.RequestPasswordReset(ctx, "not an address", otherIP); !errors.Is(err, accounts.ErrInvalidEmail) {
			t.Fatalf("malformed: %v", err)
		}

		t.Run("throttled alike with or without an account", func(t *testing.T) {
			ip := clientIP
			for _, e := range []string{"has@example.com", "nobody@example.com"} {
				var errs []error
				for range 4 {
					errs = append(errs, f.acc.RequestPasswordReset(ctx, e, ip))
				}
				var th *accounts.ThrottledError
				if errs[2] != nil || !errors.As(errs[3], &th) {
					t.Fatalf("%s: %v, want 3 answers then throttled", e, errs)
				}
			}
		})
		t.Run("at most MaxLinksPerHour links an hour, from any address", func(t *testing.T) {
			for i := range 10 {
				_ = f.acc.RequestPasswordReset(ctx, "has@example.com", netipFrom(i))
			}
			if n := box.count("reset", "has@example.com"); n != accounts.MaxLinksPerHour {
				t.Fatalf("%d reset links in an hour, want %d", n, accounts.MaxLinksPerHour)
			}
		})
	})
}

// TestResetPassword: a reset link sets the password once, proves the
// address, and signs out every session, including an attacker's who had
// registered the address first.
func TestResetPassword(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		f, box, _ := mailFixture(t, s)
		const addr = "victim@example.com"
		attackerTok, u, err := f.acc.SignUp(ctx, addr, "the attacker's password", otherIP)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.acc.RequestPasswordReset(ctx, addr, clientIP); err != nil {
			t.Fatal(err)
		}
		if err := f.acc.RequestPasswordReset(ctx, addr, clientIP); err != nil {
			t.Fatal(err)
		}
		first := box.links[1].token // the first reset link; the second is box.last
		token := box.last(t, "reset", addr)

		if _, _, err := f.acc.ResetPassword(ctx, token, "short", clientIP); !errors.Is(err, auth.ErrWeakPassword) {
			t.Fatalf("weak password: %v", err)
		}
		tok, got, err := f.acc.ResetPassword(ctx, token, "the victim's new password", clientIP)
		if err != nil {
			t.Fatalf("ResetPassword (after a weak try, the link still works): %v", err)
		}
		if got.ID != u.ID || !verified(t, f, u.ID) {
			t.Fatalf("user %s verified %v", got.ID, verified(t, f, u.ID))
		}
		if _, _, err := f.acc.Refresh(ctx, attackerTok.RefreshToken, otherIP); err == nil {
			t.Fatal("the session from before the reset still refreshes")
		}
		if _, _, err := f.acc.Refresh(ctx, tok.RefreshToken, clientIP); err != nil {
			t.Fatalf("the reset's own session: %v", err)
		}
		if _, _, err := f.acc.SignIn(ctx, addr, "the attacker's password", otherIP); !errors.Is(err, accounts.ErrInvalidCredentials) {
			t.Fatalf("old password: %v", err)
		}
		if _, _, err := f.acc.SignIn(ctx, addr, "the victim's new password", clientIP); err != nil {
			t.Fatalf("new password: %v", err)
		}
		for name, tk := range map[string]string{"used link": token, "older link": first} {
			if _, _, err := f.acc.ResetPassword(ctx, tk, "yet another password", otherIP); !errors.Is(err, accounts.ErrLinkInvalid) {
				t.Fatalf("%s: %v, want ErrLinkInvalid", name, err)
			}
		}
		// A verification link is no reset link.
		if _, _, err := f.acc.ResetPassword(ctx, box.last(t, "verify", addr), "yet another password", otherIP); !errors.Is(err, accounts.ErrLinkInvalid) {
			t.Fatalf("verification link used to reset: %v", err)
		}
	})
}

func TestChangePassword(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		f, _, _ := mailFixture(t, s)
		here, u, err := f.acc.SignUp(ctx, "bob@example.com", "old password!", clientIP)
		if err != nil {
			t.Fatal(err)
		}
		there, _, err := f.acc.SignIn(ctx, "bob@example.com", "old password!", otherIP)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.acc.ChangePassword(ctx, u.ID, here.SessionID, "wrong", "new password!", clientIP); !errors.Is(err, accounts.ErrWrongPassword) {
			t.Fatalf("wrong current password: %v", err)
		}
		if err := f.acc.ChangePassword(ctx, u.ID, here.SessionID, "old password!", "new password!", clientIP); err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.acc.Refresh(ctx, there.RefreshToken, otherIP); err == nil {
			t.Fatal("the other session survived a password change")
		}
		if _, _, err := f.acc.Refresh(ctx, here.RefreshToken, clientIP); err != nil {
			t.Fatalf("the session that changed the password: %v", err)
		}
		if _, _, err := f.acc.SignIn(ctx, "bob@example.com", "new password!", clientIP); err != nil {
			t.Fatal(err)
		}
	})
}

func TestSSORequired(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		f, box, _ := mailFixture(t, s, func(o *accounts.Options) { o.SSODomains = []string{"corp.example"} })
		mkUser(t, s, "old@corp.example", "a password from before")
		if _, _, err := f.acc.SignUp(ctx, "New@Corp.Example", "a good password", clientIP); !errors.Is(err, accounts.ErrSSORequired) {
			t.Fatalf("sign-up: %v", err)
		}
		if _, _, err := f.acc.SignIn(ctx, "old@corp.example", "a password from before", clientIP); !errors.Is(err, accounts.ErrSSORequired) {
			t.Fatalf("sign-in: %v", err)
		}
		if _, _, err := f.acc.SignIn(ctx, "nobody@corp.example", "whatever", clientIP); !errors.Is(err, accounts.ErrSSORequired) {
			t.Fatalf("sign-in of an unknown address: %v (the same answer, decided by the domain)", err)
		}
		if err := f.acc.RequestPasswordReset(ctx, "old@corp.example", clientIP); err != nil || box.count("reset", "old@corp.example") != 0 {
			t.Fatalf("reset: %v, %d links", err, box.count("reset", "old@corp.example"))
		}
		if _, _, err := f.acc.SignUp(ctx, "other@example.com", "a good password", clientIP); err != nil {
			t.Fatalf("another domain: %v", err)
		}
	})
}

func TestParseSSODomains(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{in: "", want: "[]"},
		{in: " Corp.Example , b.test,", want: "[corp.example b.test]"},
		{in: "me@corp.example", wantErr: true},
		{in: "https://corp.example", wantErr: true},
		{in: "nodot", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := accounts.ParseSSODomains(tt.in)
			if (err != nil) != tt.wantErr || (!tt.wantErr && fmt.Sprint(got) != tt.want) {
				t.Fatalf("ParseSSODomains(%q) = %v, %v", tt.in, got, err)
			}
		})
	}
}

// TestSignUpTakesNoOldRow: a row for the address (an invitee of before
// issue 15, memberships and all) is taken; sign-up does not hand it over.
// Its owner gets it with a password reset, which proves the address.
func TestSignUpTakesNoOldRow(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		f, box, _ := mailFixture(t, s)
		invited := mkUser(t, s, "invited@example.com", "")
		ws := mkWorkspace(t, s, "Claim")
		addMember(t, s, ws.ID, invited.ID, membership.RoleADMIN)

		if _, _, err := f.acc.SignUp(ctx, "Invited@Example.com", "the attacker's password", otherIP); !errors.Is(err, accounts.ErrEmailTaken) {
			t.Fatalf("sign-up of an invited address: %v, want ErrEmailTaken", err)
		}
		if err := f.acc.RequestPasswordReset(ctx, "invited@example.com", clientIP); err != nil {
			t.Fatal(err)
		}
		_, u, err := f.acc.ResetPassword(ctx, box.last(t, "reset", "invited@example.com"), "the invitee's password", clientIP)
		if err != nil || u.ID != invited.ID {
			t.Fatalf("reset: %v, user %v", err, u)
		}
		wantRole(t, s, ws.ID, invited.ID, membership.RoleADMIN)
	})
}

// netipFrom returns the i-th of a range of client addresses.
func netipFrom(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 51, 100, byte(100 + i)}) }

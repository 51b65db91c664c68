package accounts_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/oais/oais/auth"
	"github.com/oais/oais/auth/accounts"
	"github.com/oais/oais/ent/migrate"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/storetest"
)

// TestNoPlainSecretsStored runs every flow of the package, then reads every
// column of every table and every log line, and fails if a password, a
// refresh token or an access token appears anywhere.
func TestNoPlainSecretsStored(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		f, box, _ := mailFixture(t, s)
		var secrets []string
		keep := func(tok auth.Tokens) {
			secrets = append(secrets, tok.AccessToken, tok.RefreshToken, strings.TrimPrefix(tok.RefreshToken, auth.RefreshTokenPrefix))
		}
		must := func(tok auth.Tokens, _ any, err error) auth.Tokens {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
			keep(tok)
			return tok
		}

		_, adminPW, err := f.acc.EnsureBootstrapAdmin(ctx, "", "")
		if err != nil || adminPW == "" {
			t.Fatalf("bootstrap: %q, %v", adminPW, err)
		}
		const signUpPW, wrongPW = "sign-up secret 4f1e", "wrong guess 9c2a"
		secrets = append(secrets, adminPW, signUpPW, wrongPW)

		must(f.acc.SignIn(ctx, accounts.DefaultBootstrapEmail, adminPW, clientIP))
		tok := must(f.acc.SignUp(ctx, "user@example.com", signUpPW, clientIP))
		if _, _, err := f.acc.SignIn(ctx, "user@example.com", wrongPW, clientIP); err == nil {
			t.Fatal("wrong password accepted")
		}
		if _, _, err := f.acc.SignIn(ctx, wrongPW, signUpPW, clientIP); err == nil {
			t.Fatal("password as email accepted")
		}
		next := must(f.acc.Refresh(ctx, tok.RefreshToken, clientIP))
		if _, _, err := f.acc.Refresh(ctx, tok.RefreshToken, clientIP); err == nil {
			t.Fatal("reuse accepted")
		}
		if _, _, err := f.acc.Refresh(ctx, next.RefreshToken, clientIP); err == nil {
			t.Fatal("the successor of a reused token still works")
		}
		tok = must(f.acc.SignIn(ctx, "user@example.com", signUpPW, clientIP))
		if err := f.acc.SignOut(ctx, tok.RefreshToken, clientIP); err != nil {
			t.Fatal(err)
		}
		// Mailed links: their tokens are secrets too.
		if err := f.acc.RequestPasswordReset(ctx, "user@example.com", clientIP); err != nil {
			t.Fatal(err)
		}
		const resetPW = "reset secret 7d3b"
		secrets = append(secrets, resetPW)
		must(f.acc.ResetPassword(ctx, box.last(t, "reset", "user@example.com"), resetPW, clientIP))
		if err := f.acc.VerifyEmail(ctx, box.last(t, "verify", "user@example.com")); err != nil {
			t.Fatal(err)
		}
		for _, l := range box.links {
			secrets = append(secrets, l.token)
		}

		p := startProvider(t)
		secrets = append(secrets, p.m.ClientSecret)
		app := startSSO(t, p, f)
		p.queue(&mockoidc.MockUser{Subject: "sub-sso", Email: "user@example.com", EmailVerified: true})
		loc, cookie := app.ssoSignIn(t, newBrowser(t), nil)
		if cookie == nil {
			t.Fatalf("SSO sign-in ended at %s", loc)
		}
		ssoTok := ssoAccess(t, f, cookie)
		secrets = append(secrets, cookie.Value, ssoTok.AccessToken, ssoTok.RefreshToken)

		dump := dumpDatabase(t, s)
		// Positive control: the dump does see what was written.
		for _, want := range []string{"user@example.com", "sub-sso", "auth.sign_in_failed", "$argon2id$"} {
			if !strings.Contains(dump, want) {
				t.Fatalf("database dump lacks %q; is it reading every table?", want)
			}
		}
		logs := f.logs.String()
		if !strings.Contains(logs, "refresh token reused") {
			t.Fatalf("logs lack the reuse warning; is the buffer wired? %s", logs)
		}
		for i, secret := range secrets {
			if secret == "" {
				t.Fatalf("secret %d is empty", i)
			}
			if strings.Contains(dump, secret) {
				t.Errorf("secret %d (%.12s…) is in the database", i, secret)
			}
			if strings.Contains(logs, secret) {
				t.Errorf("secret %d (%.12s…) is in the logs", i, secret)
			}
		}
	})
}

// dumpDatabase returns every value of every table ent knows, as text.
func dumpDatabase(t *testing.T, s *store.Store) string {
	t.Helper()
	var b strings.Builder
	for _, table := range migrate.Tables {
		rows, err := s.DB.QueryContext(context.Background(), `SELECT * FROM "`+table.Name+`"`)
		if err != nil {
			t.Fatalf("dump %s: %v", table.Name, err)
		}
		cols, err := rows.Columns()
		if err != nil {
			t.Fatal(err)
		}
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatalf("scan %s: %v", table.Name, err)
			}
			for i, v := range vals {
				switch v := v.(type) {
				case []byte:
					fmt.Fprintf(&b, "%s.%s=%s\n", table.Name, cols[i], v)
				default:
					fmt.Fprintf(&b, "%s.%s=%v\n", table.Name, cols[i], v)
				}
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	return b.String()
}

package accounts_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/oais/oais/auth"
	"github.com/oais/oais/auth/accounts"
	"github.com/oais/oais/internal/secretbox"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/storetest"
	"github.com/oais/oais/internal/viewer"
)

func newBox(t *testing.T) *secretbox.Box {
	t.Helper()
	k := make([]byte, secretbox.KeySize)
	_, _ = rand.Read(k)
	b, err := secretbox.New(base64.StdEncoding.EncodeToString(k))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSigningKeysSealed: with OAIS_SECRETS_KEY, signing keys are stored
// sealed (the row holds no private key material), a replica with the same
// key verifies the tokens, one without it or with another refuses to start
// with an error that names the variable, and keys stored before the key was
// set still load.
func TestSigningKeysSealed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		plain := accounts.NewSigningKeyStore(s.Ent, nil)
		legacy, err := auth.NewIssuer(ctx, plain, auth.IssuerConfig{Issuer: "http://oais.test"})
		if err != nil {
			t.Fatal(err)
		}
		old, _, err := legacy.Issue(ctx, auth.AccessSubject{UserID: "usr_1", SessionID: "s0"})
		if err != nil {
			t.Fatal(err)
		}

		box := newBox(t)
		sealed := accounts.NewSigningKeyStore(s.Ent, box)
		first, err := auth.NewIssuer(ctx, sealed, auth.IssuerConfig{Issuer: "http://oais.test"})
		if err != nil {
			t.Fatalf("a sealing store must load the unsealed key stored before: %v", err)
		}
		if _, err := first.Verify(ctx, old); err != nil {
			t.Fatalf("token signed by the unsealed key: %v", err)
		}
		if err := first.Rotate(ctx); err != nil {
			t.Fatal(err)
		}
		tok, _, err := first.Issue(ctx, auth.AccessSubject{UserID: "usr_1", SessionID: "s1"})
		if err != nil {
			t.Fatal(err)
		}
		rows, err := s.Ent.SigningKey.Query().All(viewer.SystemContext(ctx))
		if err != nil || len(rows) != 2 {
			t.Fatalf("%d rows, %v", len(rows), err)
		}
		var nSealed int
		for _, r := range rows {
			if bytes.HasPrefix(r.PrivateJwk, []byte("sealed:")) {
				nSealed++
				if bytes.Contains(r.PrivateJwk, []byte(`"d"`)) || bytes.Contains(r.PrivateJwk, []byte("OKP")) {
					t.Fatal("a sealed row holds the JWK in the clear")
				}
			}
		}
		if nSealed != 1 {
			t.Fatalf("%d sealed rows, want the rotated key sealed and the old one as it was", nSealed)
		}

		second, err := auth.NewIssuer(ctx, accounts.NewSigningKeyStore(s.Ent, box), auth.IssuerConfig{Issuer: "http://oais.test"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := second.Verify(ctx, tok); err != nil {
			t.Fatalf("a replica with the same OAIS_SECRETS_KEY: %v", err)
		}
		for name, ks := range map[string]*accounts.SigningKeyStore{"no key": plain, "another key": accounts.NewSigningKeyStore(s.Ent, newBox(t))} {
			_, err := auth.NewIssuer(ctx, ks, auth.IssuerConfig{Issuer: "http://oais.test"})
			if err == nil || !strings.Contains(err.Error(), "OAIS_SECRETS_KEY") {
				t.Fatalf("%s: start-up error %v, want one naming OAIS_SECRETS_KEY", name, err)
			}
		}
	})
}

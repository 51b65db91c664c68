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

// keyCatcher is an auth.SigningKeyStore that keeps the key an issuer makes
// in memory, so a test can store it as versions before sealing did: in the
// clear.
type keyCatcher struct{ k auth.StoredKey }

func (c *keyCatcher) SigningKeys(context.Context) ([]auth.StoredKey, error) {
	if c.k.KID == "" {
		return nil, nil
	}
	return []auth.StoredKey{c.k}, nil
}

func (c *keyCatcher) AddSigningKey(_ context.Context, k auth.StoredKey) error { c.k = k; return nil }

// TestSigningKeysSealed: signing keys are stored sealed (the row holds no
// private key material), a replica with the same key verifies the tokens,
// one without it or with another refuses to start with an error that names
// the variable, and a key stored unsealed by an earlier version still loads
// and is sealed by SealStored (once, however many replicas run it).
func TestSigningKeysSealed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		sys := viewer.SystemContext(ctx)
		caught := &keyCatcher{}
		legacy, err := auth.NewIssuer(ctx, caught, auth.IssuerConfig{Issuer: "http://oais.test"})
		if err != nil {
			t.Fatal(err)
		}
		old, _, err := legacy.Issue(ctx, auth.AccessSubject{UserID: "usr_1", SessionID: "s0"})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Ent.SigningKey.Create().SetKid(caught.k.KID).SetPrivateJwk(caught.k.PrivateJWK).SetCreatedAt(caught.k.CreatedAt).Exec(sys); err != nil {
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
		countSealed := func() int {
			t.Helper()
			rows, err := s.Ent.SigningKey.Query().All(sys)
			if err != nil || len(rows) != 2 {
				t.Fatalf("%d rows, %v", len(rows), err)
			}
			n := 0
			for _, r := range rows {
				if bytes.HasPrefix(r.PrivateJwk, []byte("sealed:")) {
					n++
					if bytes.Contains(r.PrivateJwk, []byte(`"d"`)) || bytes.Contains(r.PrivateJwk, []byte("OKP")) {
						t.Fatal("a sealed row holds the JWK in the clear")
					}
				}
			}
			return n
		}
		if n := countSealed(); n != 1 {
			t.Fatalf("%d sealed rows, want the rotated key sealed and the old one as it was", n)
		}
		var sealedNow [3]int
		for i := range sealedNow {
			if sealedNow[i], err = sealed.SealStored(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if sealedNow != [3]int{1, 0, 0} || countSealed() != 2 {
			t.Fatalf("SealStored sealed %v, %d rows sealed; want [1 0 0] and both", sealedNow, countSealed())
		}

		second, err := auth.NewIssuer(ctx, accounts.NewSigningKeyStore(s.Ent, box), auth.IssuerConfig{Issuer: "http://oais.test"})
		if err != nil {
			t.Fatal(err)
		}
		for _, tk := range []string{old, tok} {
			if _, err := second.Verify(ctx, tk); err != nil {
				t.Fatalf("a replica with the same OAIS_SECRETS_KEY: %v", err)
			}
		}
		for name, ks := range map[string]*accounts.SigningKeyStore{"no key": accounts.NewSigningKeyStore(s.Ent, nil), "another key": accounts.NewSigningKeyStore(s.Ent, newBox(t))} {
			_, err := auth.NewIssuer(ctx, ks, auth.IssuerConfig{Issuer: "http://oais.test"})
			if err == nil || !strings.Contains(err.Error(), "OAIS_SECRETS_KEY") {
				t.Fatalf("%s: start-up error %v, want one naming OAIS_SECRETS_KEY", name, err)
			}
		}
	})
}

// TestSigningKeysNeverStoredUnsealed: a store without OAIS_SECRETS_KEY
// refuses to add a signing key rather than write its private half in the
// clear; nothing is stored.
func TestSigningKeysNeverStoredUnsealed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		_, err := auth.NewIssuer(ctx, accounts.NewSigningKeyStore(s.Ent, nil), auth.IssuerConfig{Issuer: "http://oais.test"})
		if err == nil || !strings.Contains(err.Error(), "OAIS_SECRETS_KEY") {
			t.Fatalf("issuer without a secrets key: %v, want an error naming OAIS_SECRETS_KEY", err)
		}
		if n, err := s.Ent.SigningKey.Query().Count(viewer.SystemContext(ctx)); err != nil || n != 0 {
			t.Fatalf("%d signing keys stored (%v), want none", n, err)
		}
	})
}

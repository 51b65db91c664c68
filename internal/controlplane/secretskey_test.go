package controlplane_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oais/oais/auth"
	"github.com/oais/oais/internal/config"
	"github.com/oais/oais/internal/controlplane"
	"github.com/oais/oais/internal/store"
	"github.com/oais/oais/internal/viewer"
)

// keyCatcher is an auth.SigningKeyStore that keeps the one key an issuer
// makes in memory, so a test can store it the way a control plane before
// OAIS_SECRETS_KEY did: unsealed.
type keyCatcher struct{ k auth.StoredKey }

func (c *keyCatcher) SigningKeys(context.Context) ([]auth.StoredKey, error) {
	if c.k.KID == "" {
		return nil, nil
	}
	return []auth.StoredKey{c.k}, nil
}

func (c *keyCatcher) AddSigningKey(_ context.Context, k auth.StoredKey) error { c.k = k; return nil }

// TestSecretsKeyFileOnSQLite: on the embedded SQLite database with no
// OAIS_SECRETS_KEY the control plane makes a key once, beside the database
// (mode 0600), says loudly where it is and that it must be backed up, and
// reuses it at the next start. Signing keys are then always sealed: one
// stored unsealed by an earlier version is sealed at start and still
// verifies the sessions it signed.
func TestSecretsKeyFileOnSQLite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	dbURL := "sqlite://" + filepath.Join(dir, "oais.db")
	ctx := context.Background()

	// An installation from before: its signing key stored in the clear.
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	legacyKeys := &keyCatcher{}
	legacy, err := auth.NewIssuer(ctx, legacyKeys, auth.IssuerConfig{Issuer: "http://localhost:8080"})
	if err != nil {
		t.Fatal(err)
	}
	oldToken, _, err := legacy.Issue(ctx, auth.AccessSubject{UserID: "usr_old", SessionID: "s_old"})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Ent.SigningKey.Create().SetKid(legacyKeys.k.KID).SetPrivateJwk(legacyKeys.k.PrivateJWK).
		SetCreatedAt(legacyKeys.k.CreatedAt).Exec(viewer.SystemContext(ctx)); err != nil {
		t.Fatal(err)
	}
	st.Close()

	open := func() (*controlplane.Server, string) {
		t.Helper()
		cfg, err := controlplane.Load(config.Map(map[string]string{
			"OAIS_DATABASE_URL":             dbURL,
			"OAIS_BOOTSTRAP_ADMIN_PASSWORD": "a long enough password",
		}))
		if err != nil {
			t.Fatal(err)
		}
		var logs bytes.Buffer
		s, err := controlplane.Open(ctx, cfg, slog.New(slog.NewTextHandler(&logs, nil)), &bytes.Buffer{})
		if err != nil {
			t.Fatalf("open without OAIS_SECRETS_KEY on SQLite: %v", err)
		}
		return s, logs.String()
	}

	keyPath := filepath.Join(dir, "secrets.key")
	s, logs := open()
	fi, err := os.Stat(keyPath)
	if err != nil {
		t.Fatalf("no key beside the database: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	first, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(first))); err != nil || len(k) != 32 {
		t.Fatalf("key file holds %d bytes (%v), want 32, base64", len(k), err)
	}
	if !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, keyPath) || !strings.Contains(logs, "back") {
		t.Fatalf("no warning naming %s and asking for a backup:\n%s", keyPath, logs)
	}
	if strings.Contains(logs, strings.TrimSpace(string(first))) {
		t.Fatal("the key itself reached the log")
	}
	if _, err := s.Issuer.Verify(ctx, oldToken); err != nil {
		t.Fatalf("a session signed by the unsealed key before: %v", err)
	}
	rows, err := s.Store.Ent.SigningKey.Query().All(viewer.SystemContext(ctx))
	if err != nil || len(rows) == 0 {
		t.Fatalf("%d signing keys, %v", len(rows), err)
	}
	for _, r := range rows {
		if !bytes.HasPrefix(r.PrivateJwk, []byte("sealed:")) || bytes.Contains(r.PrivateJwk, []byte(`"d"`)) {
			t.Fatalf("signing key %s stored unsealed", r.Kid)
		}
	}
	if err := s.Issuer.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	tok, _, err := s.Issuer.Issue(ctx, auth.AccessSubject{UserID: "usr_1", SessionID: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()

	time.Sleep(10 * time.Millisecond) // a new mtime would show a rewrite
	s, logs = open()
	defer s.Close()
	second, err := os.ReadFile(keyPath)
	if err != nil || !bytes.Equal(first, second) {
		t.Fatalf("the second start changed the key file (%v)", err)
	}
	if strings.Contains(logs, "generated") {
		t.Fatalf("the second start says it generated a key:\n%s", logs)
	}
	if _, err := s.Issuer.Verify(ctx, tok); err != nil {
		t.Fatalf("after a restart, a session from before: %v", err)
	}
	rows, err = s.Store.Ent.SigningKey.Query().All(viewer.SystemContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if !bytes.HasPrefix(r.PrivateJwk, []byte("sealed:")) {
			t.Fatalf("signing key %s stored unsealed", r.Kid)
		}
	}
}

package secretscan

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// signer is a GitHub signing key for tests.
type signer struct {
	id   string
	priv *ecdsa.PrivateKey
}

func newSigner(t testing.TB, id string) signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signer{id: id, priv: k}
}

func pemOf(t testing.TB, pub any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// sign returns the Github-Public-Key-Signature of body.
func (s signer) sign(t testing.TB, body []byte) string {
	t.Helper()
	d := sha256.Sum256(body)
	sig, err := ecdsa.SignASN1(rand.Reader, s.priv, d[:])
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

type docKey struct {
	KeyIdentifier string `json:"key_identifier"`
	Key           string `json:"key"`
	IsCurrent     bool   `json:"is_current"`
}

// document returns a keys document in the shape of GitHubKeysURL.
func document(t testing.TB, keys ...docKey) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"public_keys": keys})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (s signer) docKey(t testing.TB) docKey {
	t.Helper()
	return docKey{KeyIdentifier: s.id, Key: pemOf(t, &s.priv.PublicKey), IsCurrent: true}
}

func TestParseKeys(t *testing.T) {
	a, b := newSigner(t, "aaaa"), newSigner(t, "bbbb")
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	old := b.docKey(t)
	old.IsCurrent = false
	for _, tc := range []struct {
		name string
		doc  []byte
		ok   bool
	}{
		{"two keys, one not current", document(t, a.docKey(t), old), true},
		{"github's example", []byte(`{"public_keys":[{"key_identifier":"x","key":` + mustJSON(a.docKey(t).Key) + `,"is_current":true}]}`), true},
		{"not json", []byte("-----BEGIN PUBLIC KEY-----"), false},
		{"no keys", []byte(`{"public_keys":[]}`), false},
		{"missing public_keys", []byte(`{}`), false},
		{"no identifier", document(t, docKey{Key: a.docKey(t).Key}), false},
		{"duplicate identifier", document(t, a.docKey(t), docKey{KeyIdentifier: "aaaa", Key: old.Key}), false},
		{"not PEM", document(t, docKey{KeyIdentifier: "x", Key: "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE"}), false},
		{"P-384", document(t, docKey{KeyIdentifier: "x", Key: pemOf(t, &p384.PublicKey)}), false},
		{"RSA", document(t, docKey{KeyIdentifier: "x", Key: pemOf(t, &rsaKey.PublicKey)}), false},
		{"private key block", document(t, docKey{KeyIdentifier: "x", Key: "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"}), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := ParseKeys(tc.doc)
			if (err == nil) != tc.ok {
				t.Fatalf("ParseKeys: err = %v, want ok = %v", err, tc.ok)
			}
			if tc.ok && k == nil {
				t.Fatal("ParseKeys returned no keys and no error")
			}
		})
	}
	k, err := ParseKeys(document(t, a.docKey(t), old))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if pub, err := k.PublicKey(ctx, "bbbb"); err != nil || !pub.Equal(&b.priv.PublicKey) {
		t.Fatalf("PublicKey(bbbb) = %v, %v; a key that is not current must still verify", pub, err)
	}
	if _, err := k.PublicKey(ctx, "cccc"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("PublicKey(cccc) err = %v, want ErrUnknownKey", err)
	}
}

func mustJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestFetchKeys(t *testing.T) {
	a := newSigner(t, "aaaa")
	doc := document(t, a.docKey(t))
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { w.Write(doc) })
	mux.HandleFunc("/down", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "rate limited", http.StatusForbidden) })
	mux.HandleFunc("/junk", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>")) })
	mux.HandleFunc("/huge", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"public_keys":[],"pad":"` + strings.Repeat("x", maxKeysDocument) + `"}`))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, tc := range []struct {
		path    string
		wantErr error
	}{
		{"/ok", nil},
		{"/down", ErrKeysUnavailable},
		{"/junk", ErrKeysUnavailable},
		{"/huge", ErrKeysUnavailable},
	} {
		t.Run(tc.path, func(t *testing.T) {
			k, err := FetchKeys(context.Background(), srv.Client(), srv.URL+tc.path)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := k.PublicKey(context.Background(), "aaaa"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestRemoteKeys(t *testing.T) {
	a, b := newSigner(t, "aaaa"), newSigner(t, "bbbb")
	var fetches atomic.Int32
	var doc atomic.Pointer[[]byte]
	var down atomic.Bool
	first := document(t, a.docKey(t))
	doc.Store(&first)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		if down.Load() {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		w.Write(*doc.Load())
	}))
	defer srv.Close()
	now := time.Unix(1_700_000_000, 0)
	r := NewRemoteKeys(srv.Client(), srv.URL)
	r.now = func() time.Time { return now }
	ctx := context.Background()
	lookup := func(id string, wantErr error, wantFetches int32) {
		t.Helper()
		_, err := r.PublicKey(ctx, id)
		if !errors.Is(err, wantErr) {
			t.Fatalf("PublicKey(%s) err = %v, want %v", id, err, wantErr)
		}
		if n := fetches.Load(); n != wantFetches {
			t.Fatalf("after PublicKey(%s): %d fetches, want %d", id, n, wantFetches)
		}
	}
	lookup("aaaa", nil, 1)
	lookup("aaaa", nil, 1)           // cached
	lookup("bbbb", ErrUnknownKey, 1) // unknown, but fetched less than a minute ago
	rotated := document(t, a.docKey(t), b.docKey(t))
	doc.Store(&rotated)
	now = now.Add(keysMinRefresh)
	lookup("bbbb", nil, 2) // GitHub rotated: refetched
	now = now.Add(keysMaxAge)
	down.Store(true)
	lookup("aaaa", nil, 3)           // stale, refetch fails: the cached key still verifies
	lookup("cccc", ErrUnknownKey, 3) // no refetch within the minute
	now = now.Add(keysMinRefresh)
	lookup("cccc", ErrKeysUnavailable, 4)

	never := NewRemoteKeys(srv.Client(), srv.URL)
	if _, err := never.PublicKey(ctx, "aaaa"); !errors.Is(err, ErrKeysUnavailable) {
		t.Fatalf("never fetched, GitHub down: err = %v", err)
	}
	if _, err := never.PublicKey(ctx, "aaaa"); !errors.Is(err, ErrKeysUnavailable) {
		t.Fatalf("never fetched, within the minute: err = %v, want ErrKeysUnavailable", err)
	}
}

func TestLoadKeys(t *testing.T) {
	a := newSigner(t, "aaaa")
	doc := document(t, a.docKey(t))
	path := filepath.Join(t.TempDir(), "keys.json")
	if err := os.WriteFile(path, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, spec string
		remote     string // the URL of a *RemoteKeys, or "" for a fixed set
		ok         bool
	}{
		{"empty means github", "", GitHubKeysURL, true},
		{"url", "https://keys.example.com/secret_scanning", "https://keys.example.com/secret_scanning", true},
		{"inline document", " " + string(doc) + "\n", "", true},
		{"file", path, "", true},
		{"missing file", filepath.Join(t.TempDir(), "nope.json"), "", false},
		{"bad inline document", `{"public_keys":[]}`, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := LoadKeys(tc.spec, nil)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok = %v", err, tc.ok)
			}
			if !tc.ok {
				return
			}
			if r, isRemote := k.(*RemoteKeys); isRemote != (tc.remote != "") || (isRemote && r.url != tc.remote) {
				t.Fatalf("LoadKeys(%q) = %#v, want remote %q", tc.spec, k, tc.remote)
			}
			if tc.remote == "" {
				if _, err := k.PublicKey(context.Background(), "aaaa"); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

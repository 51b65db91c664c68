package auth_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/oais/oais/auth"
)

func TestHashPassword(t *testing.T) {
	phc := regexp.MustCompile(`^\$argon2id\$v=19\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	tests := []struct {
		name    string
		pw      string
		wantErr error
	}{
		{name: "typical", pw: "correct horse battery staple"},
		{name: "exactly minimum", pw: "12345678"},
		{name: "exactly maximum", pw: strings.Repeat("x", auth.MaxPasswordLen)},
		{name: "unicode", pw: "pässwörd-ß"},
		{name: "too short", pw: "1234567", wantErr: auth.ErrWeakPassword},
		{name: "empty", pw: "", wantErr: auth.ErrWeakPassword},
		{name: "too long", pw: strings.Repeat("x", auth.MaxPasswordLen+1), wantErr: auth.ErrPasswordTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := auth.HashPassword(tt.pw)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("HashPassword error = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				return
			}
			if !phc.MatchString(h) {
				t.Fatalf("hash %q is not argon2id PHC", h)
			}
			if ok, err := auth.VerifyPassword(h, tt.pw); err != nil || !ok {
				t.Fatalf("VerifyPassword(right) = %v, %v", ok, err)
			}
			if ok, err := auth.VerifyPassword(h, "!"+tt.pw[1:]); err != nil || ok {
				t.Fatalf("VerifyPassword(wrong) = %v, %v", ok, err)
			}
			again, _ := auth.HashPassword(tt.pw)
			if again == h {
				t.Fatal("two hashes of one password are equal: salt not random")
			}
		})
	}
}

func TestVerifyPasswordRejectsBadHashes(t *testing.T) {
	good, err := auth.HashPassword("password123")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, "$")
	with := func(i int, v string) string {
		p := append([]string(nil), parts...)
		p[i] = v
		return strings.Join(p, "$")
	}
	tests := []struct {
		name    string
		encoded string
	}{
		{name: "empty", encoded: ""},
		{name: "bcrypt", encoded: "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{name: "argon2i", encoded: with(1, "argon2i")},
		{name: "old version", encoded: with(2, "v=16")},
		{name: "huge memory", encoded: with(3, "m=4194304,t=1,p=1")},
		{name: "zero time", encoded: with(3, "m=64,t=0,p=1")},
		{name: "bad salt", encoded: with(4, "!!!")},
		{name: "short key", encoded: with(5, "AAAA")},
		{name: "extra field", encoded: good + "$x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := auth.VerifyPassword(tt.encoded, "password123")
			if ok || !errors.Is(err, auth.ErrInvalidHash) {
				t.Fatalf("VerifyPassword = %v, %v; want ErrInvalidHash", ok, err)
			}
		})
	}
	t.Run("password too long", func(t *testing.T) {
		if _, err := auth.VerifyPassword(good, strings.Repeat("x", auth.MaxPasswordLen+1)); !errors.Is(err, auth.ErrPasswordTooLong) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestPasswordParamsUpgrade(t *testing.T) {
	old := auth.PasswordParams
	t.Cleanup(func() { auth.PasswordParams = old })

	h, err := auth.HashPassword("password123")
	if err != nil {
		t.Fatal(err)
	}
	if auth.NeedsRehash(h) {
		t.Fatal("fresh hash needs rehash")
	}
	auth.PasswordParams = auth.Argon2Params{Memory: 128, Time: 2, Threads: 2}
	t.Run("old hash still verifies with its own parameters", func(t *testing.T) {
		if ok, err := auth.VerifyPassword(h, "password123"); !ok || err != nil {
			t.Fatalf("VerifyPassword = %v, %v", ok, err)
		}
	})
	t.Run("old hash needs rehash", func(t *testing.T) {
		if !auth.NeedsRehash(h) {
			t.Fatal("NeedsRehash = false")
		}
	})
	t.Run("new hash carries new parameters", func(t *testing.T) {
		h2, err := auth.HashPassword("password123")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(h2, "$m=128,t=2,p=2$") {
			t.Fatalf("hash %q lacks new parameters", h2)
		}
	})
	t.Run("equalize timing does not panic", func(t *testing.T) {
		auth.EqualizePasswordTiming("whatever-password")
	})
}

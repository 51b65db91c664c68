package keys

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/oais/oais/internal/viewer"
)

func TestGenerateParse(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 2000; i++ {
		s, err := Generate()
		if err != nil {
			t.Fatal(err)
		}
		text := s.Reveal()
		if len(text) != SecretLen || !strings.HasPrefix(text, Prefix) {
			t.Fatalf("bad secret shape %q", text)
		}
		if _, err := Parse(text); err != nil {
			t.Fatalf("Parse(Generate()) = %v", err)
		}
		if seen[text] {
			t.Fatal("duplicate secret")
		}
		seen[text] = true
		if s.String() == text || strings.Contains(s.String(), text[8:20]) {
			t.Fatal("Secret.String leaks the secret")
		}
	}
}

func TestEntropy(t *testing.T) {
	bits := float64(40) * math.Log2(62)
	if bits < 190 {
		t.Fatalf("only %.0f bits of entropy", bits)
	}
}

func TestParseRejects(t *testing.T) {
	good, _ := Generate()
	g := good.Reveal()
	flip := func(i int) string {
		b := []byte(g)
		if b[i] == 'a' {
			b[i] = 'b'
		} else {
			b[i] = 'a'
		}
		return string(b)
	}
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"prefix only", Prefix},
		{"wrong prefix", "sk-oaix-" + g[8:]},
		{"openai key", "sk-proj-" + g[8:]},
		{"truncated", g[:len(g)-1]},
		{"extra char", g + "a"},
		{"typo in body", flip(20)},
		{"typo in checksum", flip(len(g) - 1)},
		{"bad alphabet", g[:20] + "-" + g[21:]},
		{"non-ascii", g[:20] + "é" + g[22:]},
		{"whitespace", " " + g[1:]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Parse(tt.in); err != ErrMalformed {
				t.Fatalf("Parse(%q) = %v, want ErrMalformed", tt.in, err)
			}
		})
	}
}

func TestMask(t *testing.T) {
	s, _ := Generate()
	m := Mask(s.Reveal())
	if m != "sk-oa**********"+s.Reveal()[SecretLen-4:] {
		t.Fatalf("Mask = %q", m)
	}
	if Mask("x") != "sk-oa**********" {
		t.Fatal("short input must not panic or leak")
	}
}

func TestHash(t *testing.T) {
	s, _ := Generate()
	h := s.Hash()
	back, err := ParseHash(h.String())
	if err != nil || !back.Equal(h) {
		t.Fatalf("hash round trip failed: %v", err)
	}
	if strings.Contains(h.String(), s.Reveal()) {
		t.Fatal("hash contains secret")
	}
	if _, err := ParseHash("zz"); err == nil {
		t.Fatal("bad hash accepted")
	}
}

func TestEffective(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	past, future := now.Add(-time.Minute), now.Add(time.Minute)
	tests := []struct {
		name string
		st   State
		want Status
		err  error
	}{
		{"active", State{Status: StatusActive}, StatusActive, nil},
		{"disabled", State{Status: StatusDisabled}, StatusDisabled, ErrDisabled},
		{"revoked", State{Status: StatusRevoked}, StatusRevoked, ErrRevoked},
		{"expired", State{Status: StatusActive, ExpiresAt: past}, StatusExpired, ErrExpired},
		{"expires exactly now", State{Status: StatusActive, ExpiresAt: now}, StatusExpired, ErrExpired},
		{"not yet expired", State{Status: StatusActive, ExpiresAt: future}, StatusActive, nil},
		{"rate limited", State{Status: StatusActive, MaxRequests: 10, RequestCount: 10}, StatusRateLimited, ErrRequestLimit},
		{"under limit", State{Status: StatusActive, MaxRequests: 10, RequestCount: 9}, StatusActive, nil},
		{"unlimited", State{Status: StatusActive, RequestCount: 1 << 40}, StatusActive, nil},
		{"in rotation grace", State{Status: StatusActive, GraceUntil: future}, StatusActive, nil},
		{"grace ended", State{Status: StatusActive, GraceUntil: past}, StatusRevoked, ErrRevoked},
		{"revoked beats expired", State{Status: StatusRevoked, ExpiresAt: past}, StatusRevoked, ErrRevoked},
		{"expired beats disabled", State{Status: StatusDisabled, ExpiresAt: past}, StatusExpired, ErrExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.st.Effective(now); got != tt.want {
				t.Fatalf("Effective = %s, want %s", got, tt.want)
			}
			if err := tt.st.Check(now); err != tt.err {
				t.Fatalf("Check = %v, want %v", err, tt.err)
			}
		})
	}
}

func TestTransition(t *testing.T) {
	owner := Actor{Role: viewer.RoleOwner}
	admin := Actor{Role: viewer.RoleAdmin}
	devOwn := Actor{Role: viewer.RoleDeveloper, IsCreator: true}
	devOther := Actor{Role: viewer.RoleDeveloper}
	view := Actor{Role: viewer.RoleViewer, IsCreator: true}
	tests := []struct {
		name string
		from State
		to   Status
		by   Actor
		want error
	}{
		{"admin disables", State{Status: StatusActive}, StatusDisabled, admin, nil},
		{"developer disables own", State{Status: StatusActive}, StatusDisabled, devOwn, nil},
		{"developer cannot touch others", State{Status: StatusActive}, StatusDisabled, devOther, ErrForbidden},
		{"viewer cannot change", State{Status: StatusActive}, StatusRevoked, view, ErrForbidden},
		{"enable disabled", State{Status: StatusDisabled}, StatusActive, devOwn, nil},
		{"revoke", State{Status: StatusActive}, StatusRevoked, devOwn, nil},
		{"admin reactivates revoked", State{Status: StatusRevoked, RevokeReason: ReasonManual}, StatusActive, admin, nil},
		{"owner reactivates bulk-revoked", State{Status: StatusRevoked, RevokeReason: ReasonBulk}, StatusActive, owner, nil},
		{"developer cannot reactivate", State{Status: StatusRevoked, RevokeReason: ReasonManual}, StatusActive, devOwn, ErrForbidden},
		{"leaked stays dead", State{Status: StatusRevoked, RevokeReason: ReasonLeaked}, StatusActive, owner, ErrLeaked},
		{"cannot disable revoked", State{Status: StatusRevoked}, StatusDisabled, admin, ErrBadTransition},
		{"cannot set expired", State{Status: StatusActive}, StatusExpired, admin, ErrBadTransition},
		{"cannot set rate limited", State{Status: StatusActive}, StatusRateLimited, admin, ErrBadTransition},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := tt.from
			if err := Transition(&st, tt.to, tt.by); err != tt.want {
				t.Fatalf("Transition = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestCheckEdit: an expired key stays expired (seed 000: "Cannot be
// reactivated — generate a new token instead"); a revoked one can come back.
func TestCheckEdit(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	past, future := now.Add(-time.Minute), now.Add(time.Minute)
	tests := []struct {
		name string
		st   State
		edit Edit
		want error
	}{
		{"extend an expired key", State{Status: StatusActive, ExpiresAt: past}, Edit{Expiry: true}, ErrExpiredFinal},
		{"expiring exactly now is expired", State{Status: StatusActive, ExpiresAt: now}, Edit{Expiry: true}, ErrExpiredFinal},
		{"enable an expired disabled key", State{Status: StatusDisabled, ExpiresAt: past}, Edit{Status: StatusActive}, ErrExpiredFinal},
		{"re-activate an expired revoked key", State{Status: StatusRevoked, ExpiresAt: past}, Edit{Status: StatusActive}, ErrExpiredFinal},
		{"disable an expired key", State{Status: StatusActive, ExpiresAt: past}, Edit{Status: StatusDisabled}, nil},
		{"rename an expired key", State{Status: StatusActive, ExpiresAt: past}, Edit{}, nil},
		{"extend a key before it expires", State{Status: StatusActive, ExpiresAt: future}, Edit{Expiry: true}, nil},
		{"re-activate a revoked key that has not expired", State{Status: StatusRevoked, ExpiresAt: future}, Edit{Status: StatusActive}, nil},
		{"re-activate a revoked key without expiry", State{Status: StatusRevoked}, Edit{Status: StatusActive, Expiry: true}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := tt.st
			if err := CheckEdit(&st, tt.edit, now); err != tt.want {
				t.Fatalf("CheckEdit = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestGraceUntil(t *testing.T) {
	now := time.Now()
	if _, err := GraceUntil(now, -time.Second); err != ErrBadGrace {
		t.Fatal("negative grace accepted")
	}
	if _, err := GraceUntil(now, MaxRotationGrace+time.Second); err != ErrBadGrace {
		t.Fatal("too long grace accepted")
	}
	if u, err := GraceUntil(now, 0); err != nil || !u.Equal(now) {
		t.Fatal("zero grace must end now")
	}
}

func FuzzParse(f *testing.F) {
	s, _ := Generate()
	f.Add(s.Reveal())
	f.Add("")
	f.Add(Prefix)
	f.Add("sk-oais-" + strings.Repeat("A", 46))
	f.Fuzz(func(t *testing.T, in string) {
		sec, err := Parse(in)
		if err != nil {
			return
		}
		// Anything accepted has the exact shape, and re-validates.
		if len(in) != SecretLen || !strings.HasPrefix(in, Prefix) || sec.Reveal() != in || !Valid(in) {
			t.Fatalf("accepted malformed %q", in)
		}
		_ = Mask(in)
	})
}

func BenchmarkValid(b *testing.B) {
	s, _ := Generate()
	text := s.Reveal()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if !Valid(text) {
			b.Fatal("invalid")
		}
	}
}

func BenchmarkValidHashLookup(b *testing.B) {
	s, _ := Generate()
	text := s.Reveal()
	m := map[Hash]int{HashOf(text): 1}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if !Valid(text) || m[HashOf(text)] != 1 {
			b.Fatal("lookup failed")
		}
	}
}

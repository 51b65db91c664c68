package ids

import (
	"strings"
	"testing"
	"time"
)

func TestNew(t *testing.T) {
	a := NewAt(APIKey, time.UnixMilli(1000))
	b := NewAt(APIKey, time.UnixMilli(2000))
	if !strings.HasPrefix(a, "key_") || len(a) != len("key_")+26 {
		t.Fatalf("bad id %q", a)
	}
	if !(a < b) {
		t.Fatalf("ids not time-ordered: %q >= %q", a, b)
	}
	if Prefix(a) != APIKey || Prefix("nope") != "" {
		t.Fatalf("Prefix wrong")
	}
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := New(Workspace)
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
	}
}

func TestMonotonicWithinMillisecond(t *testing.T) {
	at := time.UnixMilli(5000)
	prev := NewAt(AuditEvent, at)
	for i := 0; i < 1000; i++ {
		id := NewAt(AuditEvent, at)
		if !(prev < id) {
			t.Fatalf("%q not after %q", id, prev)
		}
		prev = id
	}
}

// TestDerivedAndFloor: a derived id is the same for the same arguments and
// different for another seed, and Floor bounds the ids of its instant.
func TestDerivedAndFloor(t *testing.T) {
	at := time.Date(2026, 12, 6, 14, 0, 0, 0, time.UTC)
	a, b := Derived(AuditEvent, at, "ws|key|14:00"), Derived(AuditEvent, at, "ws|key|14:00")
	if a != b {
		t.Errorf("Derived is not deterministic: %s, %s", a, b)
	}
	if c := Derived(AuditEvent, at, "ws|other|14:00"); c == a {
		t.Errorf("two seeds give one id %s", c)
	}
	lo, hi := Floor(UsageEvent, at), Floor(UsageEvent, at.Add(time.Minute))
	for _, tc := range []struct {
		name string
		at   time.Time
		in   bool
	}{
		{"the first instant", at, true},
		{"mid-minute", at.Add(30 * time.Second), true},
		{"the last millisecond", at.Add(time.Minute - time.Millisecond), true},
		{"the next minute", at.Add(time.Minute), false},
		{"the millisecond before", at.Add(-time.Millisecond), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := NewAt(UsageEvent, tc.at)
			if got := id >= lo && id < hi; got != tc.in {
				t.Errorf("%s in [%s, %s) = %v, want %v", id, lo, hi, got, tc.in)
			}
		})
	}
}

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

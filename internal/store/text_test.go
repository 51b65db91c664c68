package store_test

import (
	"testing"
	"unicode/utf8"

	"github.com/oais/oais/internal/store"
)

func TestTruncate(t *testing.T) {
	tests := []struct {
		name, in string
		n        int
		want     string
	}{
		{"short", "abc", 5, "abc"},
		{"exact", "abc", 3, "abc"},
		{"ascii cut", "abcdef", 4, "abcd"},
		{"keeps a rune whole", "aé", 2, "a"}, // é is 2 bytes
		{"multibyte fits", "aé", 3, "aé"},
		{"zero", "abc", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := store.Truncate(tt.in, tt.n)
			if got != tt.want || len(got) > tt.n || !utf8.ValidString(got) {
				t.Fatalf("Truncate(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
			}
		})
	}
}

func TestClean(t *testing.T) {
	tests := []struct {
		name, in string
		n        int
		want     string
	}{
		{"plain", "gpt-4o", 200, "gpt-4o"},
		{"nul dropped", "gpt\x00-4o", 200, "gpt-4o"},
		{"invalid utf-8 replaced", "caf\xe9", 200, "caf\uFFFD"},
		{"cut after cleaning", "ab\x00cdef", 4, "abcd"},
		{"replacement kept whole", "a\xff", 3, "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := store.Clean(tt.in, tt.n)
			if got != tt.want || len(got) > tt.n || !utf8.ValidString(got) {
				t.Fatalf("Clean(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
			}
		})
	}
}

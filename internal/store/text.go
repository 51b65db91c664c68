package store

import (
	"strings"
	"unicode/utf8"
)

// Truncate cuts s to at most n bytes without splitting a UTF-8 sequence, so
// it fits a column whose MaxLen (ent counts bytes) is n.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Clean makes s text every database takes: valid UTF-8 (a bad sequence
// becomes U+FFFD), without NUL bytes (PostgreSQL's text cannot hold them),
// and at most n bytes. Values that come from clients or upstreams (a
// model name) go through it before a raw insert.
func Clean(s string, n int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "")
	}
	return Truncate(s, n)
}

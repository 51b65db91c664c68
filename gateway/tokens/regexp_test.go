package tokens

import (
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
)

// The scanners (ascii.go, unicode.go) are held to these regexps, the
// pre-tokenizers OpenAI publishes with each table, run by regexp2 as
// tiktoken-go does; the gateway itself no longer links a regexp engine.

// patterns are the pre-tokenizers OpenAI publishes with each table
// (tiktoken's openai_public.py), as tiktoken-go v0.1.8 writes them for
// regexp2 (Go's regexp has no lookahead).
var patterns = map[Encoding]string{
	O200K: strings.Join([]string{
		`[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?`,
		`[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?`,
		`\p{N}{1,3}`,
		` ?[^\s\p{L}\p{N}]+[\r\n/]*`,
		`\s*[\r\n]+`,
		`\s+(?!\S)`,
		`\s+`,
	}, "|"),
	CL100K: `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
}

var regexps sync.Map // Encoding -> *regexp2.Regexp

// reOf is table b's regexp.
func reOf(t testing.TB, b *bpe) *regexp2.Regexp {
	t.Helper()
	if re, ok := regexps.Load(b.name); ok {
		return re.(*regexp2.Regexp)
	}
	re, err := regexp2.Compile(patterns[b.name], regexp2.None)
	if err != nil {
		t.Fatal(err)
	}
	regexps.Store(b.name, re)
	return re
}

// countRegexp is count with the table's regexp as the pre-tokenizer, for
// any text.
func countRegexp(tb testing.TB, t *bpe, s string) int {
	if !utf8.ValidString(s) {
		// tiktoken-go cuts pieces from []rune(s), which turns each
		// invalid byte into U+FFFD; count what it counts.
		s = string([]rune(s))
	}
	n := 0
	// regexp2 reports matches in runes; off follows them in bytes.
	off, at := 0, 0
	re := reOf(tb, t)
	m, err := re.FindStringMatch(s)
	for ; m != nil && err == nil; m, err = re.FindNextMatch(m) {
		for ; at < m.Index; at++ {
			_, w := utf8.DecodeRuneInString(s[off:])
			off += w
		}
		start := off
		for ; at < m.Index+m.Length; at++ {
			_, w := utf8.DecodeRuneInString(s[off:])
			off += w
		}
		n += t.countPiece(s[start:off])
	}
	return n
}

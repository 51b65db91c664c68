package tokens

import (
	"sync"
	"unicode"
	"unicode/utf8"
)

// Any text is pre-tokenized without regexp2 too. The patterns (regexp_test.go) are
// alternations of character classes; over all of Unicode two of them
// overlap (o200k_base's upper-or-other [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}] and
// lower-or-other [\p{Ll}\p{Lm}\p{Lo}\p{M}] share \p{Lm}, \p{Lo} and the
// marks), so where ascii.go's classes never backtrack into each other, the
// scanner here follows the backtracking a regexp engine does for that
// overlap, alternative by alternative, in the regexp's order. The classes
// are Go's unicode tables, which regexp2 uses for \p{…}, and unicode.IsSpace,
// which is its \s. TestUnicodePiecesMatchRegexp and FuzzUnicodePieces hold
// the pieces to the regexp's; a text of Chinese, Russian or accented
// European prose is then counted at tens of MB/s instead of regexp2's few
// (BenchmarkCountUnicode).

// Rune classes.
const (
	uL  = 1 << iota // \p{L}
	uN              // \p{N}
	uS              // \s: unicode.IsSpace
	uNL             // \r or \n
	uA              // [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]
	uB              // [\p{Ll}\p{Lm}\p{Lo}\p{M}]
)

// classOf classifies r from the unicode tables.
func classOf(r rune) uint8 {
	var c uint8
	if unicode.IsLetter(r) {
		c |= uL
	}
	if unicode.IsNumber(r) {
		c |= uN
	}
	if unicode.IsSpace(r) {
		c |= uS
	}
	if r == '\r' || r == '\n' {
		c |= uNL
	}
	mark := unicode.IsMark(r)
	other := unicode.In(r, unicode.Lm, unicode.Lo)
	if mark || other || unicode.In(r, unicode.Lu, unicode.Lt) {
		c |= uA
	}
	if mark || other || unicode.Is(unicode.Ll, r) {
		c |= uB
	}
	return c
}

// bmpClass is classOf of every rune below 0x10000, looked up instead of
// searching the tables (64 KiB, no pointers); runes above are classified
// as they come. It is built with the first BPE table (loadBPE calls
// loadClasses), the only way to a scanner, rather than at start-up: 3.4 ms
// every process importing the package would pay, counting or not.
var (
	bmpClass     *[1 << 16]uint8
	bmpClassOnce sync.Once
)

func loadClasses() {
	bmpClassOnce.Do(func() {
		var t [1 << 16]uint8
		for r := range rune(len(t)) {
			t[r] = classOf(r)
		}
		bmpClass = &t
	})
}

// at is the class and width of the rune at i of valid UTF-8 s; 0, 0 at
// its end.
func at(s string, i int) (uint8, int) {
	if i >= len(s) {
		return 0, 0
	}
	if b := s[i]; b < utf8.RuneSelf {
		return bmpClass[b], 1
	}
	r, w := utf8.DecodeRuneInString(s[i:])
	if r < 1<<16 {
		return bmpClass[r], w
	}
	return classOf(r), w
}

// runU is the end of the run of runes of a class in mask from i.
func runU(s string, i int, mask uint8) int {
	for {
		c, w := at(s, i)
		if c&mask == 0 {
			return i
		}
		i += w
	}
}

// prefixU is [^\r\n\p{L}\p{N}]; punctU is [^\s\p{L}\p{N}].
func prefixU(c uint8) bool { return c&(uNL|uL|uN) == 0 }
func punctU(c uint8) bool  { return c&(uS|uL|uN) == 0 }

// upperLower is the end of [upper-or-other]*[lower-or-other]+ at j, or -1:
// the first run as long as it goes, then the second; if the second cannot
// start there, the first gives runes back until one of them can (it then
// ends right after it: the rune after it could not continue it).
func upperLower(s string, j int) int {
	k, lastB := j, -1
	for {
		c, w := at(s, k)
		if c&uA == 0 {
			if c&uB != 0 {
				return runU(s, k, uB)
			}
			return lastB
		}
		k += w
		if c&uB != 0 {
			lastB = k
		}
	}
}

// upperThenLower is the end of [upper-or-other]+[lower-or-other]* at j, or
// -1.
func upperThenLower(s string, j int) int {
	k := runU(s, j, uA)
	if k == j {
		return -1
	}
	return runU(s, k, uB)
}

// withContraction is the end of an optional (?i:'s|'t|'re|'ve|'m|'ll|'d)
// at i: only ASCII letters fold to those (TestUnicodeContractions).
func withContraction(s string, i int) int {
	if i >= len(s) || s[i] != '\'' {
		return i
	}
	// contraction reads ASCII only, at most three bytes.
	t := s[i:min(len(s), i+3)]
	for k := range len(t) {
		if t[k] >= utf8.RuneSelf {
			t = t[:k]
			break
		}
	}
	if e := contraction(t, 0); e > 0 {
		return i + e
	}
	return i
}

// pieceO200KUnicode is the end of o200k_base's piece at i of valid UTF-8 s.
func pieceO200KUnicode(s string, i int) int {
	c, w := at(s, i)
	pre := prefixU(c)
	// [^\r\n\p{L}\p{N}]?[upper-or-other]*[lower-or-other]+(contraction)?
	if pre {
		if e := upperLower(s, i+w); e >= 0 {
			return withContraction(s, e)
		}
	}
	if e := upperLower(s, i); e >= 0 {
		return withContraction(s, e)
	}
	// [^\r\n\p{L}\p{N}]?[upper-or-other]+[lower-or-other]*(contraction)?
	if pre {
		if e := upperThenLower(s, i+w); e >= 0 {
			return withContraction(s, e)
		}
	}
	if e := upperThenLower(s, i); e >= 0 {
		return withContraction(s, e)
	}
	return otherUnicode(s, i, c, true)
}

// pieceCL100KUnicode is the end of cl100k_base's piece at i of valid
// UTF-8 s.
func pieceCL100KUnicode(s string, i int) int {
	if e := withContraction(s, i); e > i {
		return e
	}
	c, w := at(s, i)
	// [^\r\n\p{L}\p{N}]?\p{L}+
	if prefixU(c) {
		if next, _ := at(s, i+w); next&uL != 0 {
			return runU(s, i+w, uL)
		}
	}
	if c&uL != 0 {
		return runU(s, i, uL)
	}
	return otherUnicode(s, i, c, false)
}

// otherUnicode is the end of a piece at i that is not a word, the same in
// both patterns: \p{N}{1,3}, then ' '?[^\s\p{L}\p{N}]+ followed by [\r\n]*
// (o200k_base: [\r\n/]*), then the whitespace alternatives. c is the class
// of the rune at i.
func otherUnicode(s string, i int, c uint8, slash bool) int {
	if c&uN != 0 {
		j := i
		for n := 0; n < 3; n++ {
			cj, w := at(s, j)
			if cj&uN == 0 {
				break
			}
			j += w
		}
		return j
	}
	j := i
	if s[i] == ' ' {
		if next, _ := at(s, i+1); punctU(next) && i+1 < len(s) {
			j = i + 1
		}
	}
	if cj, _ := at(s, j); j < len(s) && punctU(cj) {
		j = punctEnd(s, j)
		for j < len(s) && (s[j] == '\r' || s[j] == '\n' || (slash && s[j] == '/')) {
			j++
		}
		return j
	}
	return spacesUnicode(s, i)
}

// punctEnd extends a run of [^\s\p{L}\p{N}] from j to its end (runU cannot
// name a class by what it lacks).
func punctEnd(s string, j int) int {
	for j < len(s) {
		c, w := at(s, j)
		if !punctU(c) {
			break
		}
		j += w
	}
	return j
}

// spacesUnicode is the end of \s*[\r\n]+ | \s+(?!\S) | \s+ at i, where the
// rune at i is whitespace: through the run's last newline, else the whole
// run if it ends the text or is one rune, else all of it but its last
// rune (which goes with the word after it).
func spacesUnicode(s string, i int) int {
	k, last, nl := i, i, -1
	for {
		c, w := at(s, k)
		if c&uS == 0 {
			break
		}
		if c&uNL != 0 {
			nl = k + 1
		}
		last = k
		k += w
	}
	switch {
	case nl >= 0:
		return nl
	case k == len(s) || last == i:
		return k
	}
	return last
}

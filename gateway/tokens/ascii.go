package tokens

// An ASCII text is pre-tokenized without regexp2. For bytes below 0x80
// the two patterns (regexp_test.go's patterns) reduce to a few character classes
// whose alternatives never need to backtrack into each other, so a
// scanner finds the same pieces as the regexp: TestASCIIPiecesMatchRegexp
// and the fuzz targets hold it to the regexp and to tiktoken-go. regexp2
// runs at a few MB/s and allocates per match; this is the gateway's
// common case (English prompts, code, JSON).

// ASCII classes, as regexp2 (.NET) defines them: \s is tab, LF, VT, FF,
// CR and space; \p{L} the letters; \p{N} the digits.
const (
	clsSpace = 1 << iota
	clsUpper
	clsLower
	clsDigit
	clsNewline // \r or \n
)

var asciiClass = func() (t [128]uint8) {
	for _, c := range "\t\n\v\f\r " {
		t[c] |= clsSpace
	}
	t['\r'] |= clsNewline
	t['\n'] |= clsNewline
	for c := 'A'; c <= 'Z'; c++ {
		t[c] |= clsUpper
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] |= clsLower
	}
	for c := '0'; c <= '9'; c++ {
		t[c] |= clsDigit
	}
	return t
}()

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func cls(s string, i int) uint8 {
	if i >= len(s) {
		return 0
	}
	return asciiClass[s[i]]
}

// punct is [^\s\p{L}\p{N}]; prefix is [^\r\n\p{L}\p{N}].
func punct(c uint8) bool  { return c&(clsSpace|clsUpper|clsLower|clsDigit) == 0 }
func prefix(c uint8) bool { return c&(clsNewline|clsUpper|clsLower|clsDigit) == 0 }

func run(s string, i int, mask uint8) int {
	for i < len(s) && asciiClass[s[i]]&mask != 0 {
		i++
	}
	return i
}

// contraction is the end of (?i:'s|'t|'re|'ve|'m|'ll|'d) at i, or -1.
func contraction(s string, i int) int {
	if i+1 >= len(s) || s[i] != '\'' {
		return -1
	}
	lower := func(c byte) byte { return c | 0x20 } // ASCII letters only: checked below
	c := lower(s[i+1])
	if cls(s, i+1)&(clsUpper|clsLower) == 0 {
		return -1
	}
	switch c {
	case 's', 't', 'm', 'd':
		return i + 2
	case 'r', 'v':
		if i+2 < len(s) && cls(s, i+2)&(clsUpper|clsLower) != 0 && lower(s[i+2]) == 'e' {
			return i + 3
		}
	case 'l':
		if i+2 < len(s) && cls(s, i+2)&(clsUpper|clsLower) != 0 && lower(s[i+2]) == 'l' {
			return i + 3
		}
	}
	return -1
}

// spaces is the end of the whitespace alternatives shared by both
// patterns at i, where s[i] is whitespace: \s*[\r\n]+ | \s+(?!\S) | \s+.
func spaces(s string, i int) int {
	k := run(s, i, clsSpace)
	for p := k - 1; p >= i; p-- { // \s*[\r\n]+: through the last newline
		if asciiClass[s[p]]&clsNewline != 0 {
			return p + 1
		}
	}
	if k == len(s) || k-i == 1 { // \s+(?!\S) at the end, or \s+
		return k
	}
	return k - 1 // \s+(?!\S): all but the space before the next word
}

// pieceO200K is the end of o200k_base's piece at i.
func pieceO200K(s string, i int) int {
	c := cls(s, i)
	j := i
	if prefix(c) && i+1 < len(s) && cls(s, i+1)&(clsUpper|clsLower) != 0 {
		j = i + 1
	}
	if cls(s, j)&(clsUpper|clsLower) != 0 {
		// [A-Z]*[a-z]+ else [A-Z]+[a-z]*: uppers, then lowers, either way.
		end := run(s, run(s, j, clsUpper), clsLower)
		if e := contraction(s, end); e > 0 {
			end = e
		}
		return end
	}
	return other(s, i, true)
}

// pieceCL100K is the end of cl100k_base's piece at i.
func pieceCL100K(s string, i int) int {
	if e := contraction(s, i); e > 0 {
		return e
	}
	c := cls(s, i)
	j := i
	if prefix(c) && i+1 < len(s) && cls(s, i+1)&(clsUpper|clsLower) != 0 {
		j = i + 1
	}
	if cls(s, j)&(clsUpper|clsLower) != 0 {
		return run(s, j, clsUpper|clsLower)
	}
	return other(s, i, false)
}

// other is the end of a piece at i that is not a word, the same in both
// patterns: \p{N}{1,3}, then ' '?[^\s\p{L}\p{N}]+ followed by [\r\n]*
// (o200k_base: [\r\n/]*, slash), then the whitespace alternatives.
func other(s string, i int, slash bool) int {
	c := cls(s, i)
	switch {
	case c&clsDigit != 0:
		return min(run(s, i, clsDigit), i+3)
	case c&clsSpace != 0 && !(s[i] == ' ' && i+1 < len(s) && punct(cls(s, i+1))):
		return spaces(s, i)
	}
	j := i
	if s[i] == ' ' {
		j++
	}
	for j < len(s) && punct(asciiClass[s[j]]) {
		j++
	}
	for j < len(s) && (s[j] == '\r' || s[j] == '\n' || (slash && s[j] == '/')) {
		j++
	}
	return j
}

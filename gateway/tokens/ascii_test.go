package tokens

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// regexpPieces is where the table's regexp cuts s (ASCII: runes are bytes).
func regexpPieces(t testing.TB, b *bpe, s string) []string {
	var out []string
	re := reOf(t, b)
	m, err := re.FindStringMatch(s)
	for ; m != nil && err == nil; m, err = re.FindNextMatch(m) {
		out = append(out, s[m.Index:m.Index+m.Length])
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func scannerPieces(b *bpe, s string) []string {
	var out []string
	for i := 0; i < len(s); {
		j := b.piece(s, i)
		if j <= i {
			panic(fmt.Sprintf("no progress at %d of %q", i, s))
		}
		out = append(out, s[i:j])
		i = j
	}
	return out
}

var asciiPieces = []string{
	" ", "  ", "\t", "\n", "\r", "\r\n", "\v", "\f", "'", "'s", "'S", "'re", "'RE", "'Ve", "'ll", "'LL", "'m", "'d", "'t", "'x",
	"a", "z", "A", "Z", "ab", "AB", "Ab", "aB", "hello", "HELLO", "Hello", "0", "7", "12", "1234", ".", ",", "!", "?", "/", "//",
	"\\", "\"", "-", "_", "(", ")", "{", "}", "[", "]", ":", ";", "#", "@", "$", "%", "^", "&", "*", "+", "=", "<", ">", "|", "~", "`",
	"\x00", "\x01", "\x1c", "\x1f", "\x7f",
}

func randomASCII(rng *rand.Rand) string {
	var b strings.Builder
	for range 1 + rng.IntN(24) {
		if rng.IntN(8) == 0 {
			b.WriteByte(byte(rng.IntN(128)))
		} else {
			b.WriteString(asciiPieces[rng.IntN(len(asciiPieces))])
		}
	}
	return b.String()
}

// TestASCIIPiecesMatchRegexp: on ASCII texts the scanner cuts exactly where
// the table's regexp does, piece for piece, in both tables: every byte
// below 0x80, and sequences of the characters the patterns treat apart
// (contractions in either case, whitespace runs with and without
// newlines, a space before punctuation, words in every case mix, digit
// runs longer than three).
func TestASCIIPiecesMatchRegexp(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i, b := range loadTables(t) {
		e := testEncodings[i]
		texts := []string{"", "Hello, World!", "I'm sure they'll say it's fine; we've done what we'd said.", "DON'T",
			"func main() {\n\tfmt.Println(\"hi\")\n}\n", "a  b   c\n\n  d \t\n e", "x/y//z\n/", "  ", " ", "\n", "1234567"}
		for c := range 128 {
			texts = append(texts, string(rune(c)), "a"+string(rune(c))+"b", " "+string(rune(c))+" x", string(rune(c))+"'s")
		}
		for range 20000 {
			texts = append(texts, randomASCII(rng))
		}
		samePieces(t, e, texts, func(s string) ([]string, []string) { return regexpPieces(t, b, s), scannerPieces(b, s) })
	}
}

// samePieces fails for each text whose pieces (the regexp's, the
// scanner's) differ, naming the first ten.
func samePieces(t *testing.T, e Encoding, texts []string, pieces func(string) (want, got []string)) {
	t.Helper()
	bad := 0
	for _, s := range texts {
		if want, got := pieces(s); !slices.Equal(want, got) {
			if bad++; bad <= 10 {
				t.Errorf("%s: %q: scanner %q, regexp %q", e, s, got, want)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d texts cut differently", e, bad, len(texts))
	}
}

// FuzzASCIIPieces: any ASCII text is cut as the regexp cuts it
// (go test -fuzz FuzzASCIIPieces ./gateway/tokens/).
func FuzzASCIIPieces(f *testing.F) {
	tables := loadTables(f)
	for _, s := range []string{"", "Hello, World!", "I'LL say it's\n\n  done  ", "a /b\r\n", "12345 6.7e8"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 2048 {
			return
		}
		ascii := []byte(s)
		for i := range ascii {
			ascii[i] &= 0x7f
		}
		s = string(ascii)
		for _, b := range tables {
			if want, got := regexpPieces(t, b, s), scannerPieces(b, s); !slices.Equal(want, got) {
				t.Fatalf("%q: scanner %q, regexp %q", s, got, want)
			}
		}
	})
}

func BenchmarkCountASCII(b *testing.B) {
	enc, err := loadBPE(O200K)
	if err != nil {
		b.Fatal(err)
	}
	text := strings.Repeat("The quick brown fox jumps over the lazy dog; it's 2026 and we'll count 12345 tokens!\n", 20)
	b.SetBytes(int64(len(text)))
	b.Run("scanner", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		for b.Loop() {
			enc.count(text)
		}
	})
	b.Run("regexp", func(b *testing.B) {
		b.SetBytes(int64(len(text)))
		for b.Loop() {
			countRegexp(b, enc, text)
		}
	})
}

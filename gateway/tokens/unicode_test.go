package tokens

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
)

// regexpPiecesUnicode is where the table's regexp cuts valid UTF-8 s
// (regexp2 reports runes; the pieces are the bytes).
func regexpPiecesUnicode(t testing.TB, b *bpe, s string) []string {
	t.Helper()
	runes := []rune(s)
	var out []string
	re := reOf(t, b)
	m, err := re.FindRunesMatch(runes)
	for ; m != nil && err == nil; m, err = re.FindNextMatch(m) {
		out = append(out, string(runes[m.Index:m.Index+m.Length]))
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func unicodePieces(t testing.TB, b *bpe, s string) []string {
	t.Helper()
	var out []string
	for i := 0; i < len(s); {
		j := b.pieceUnicode(s, i)
		if j <= i || j > len(s) {
			t.Fatalf("%q: no progress at %d (%d)", s, i, j)
		}
		out = append(out, s[i:j])
		i = j
	}
	return out
}

// unicodeAlphabet is what random texts are made of: each character the
// patterns tell apart, from ASCII and beyond it, in each class and in
// the overlaps (\p{Lm}, \p{Lo} and marks are both "upper" and "lower" to
// o200k_base; a mark is not a letter to cl100k_base), digits of other
// scripts and other numbers, whitespace that is not ASCII, symbols,
// format characters and U+FFFD.
var unicodeAlphabet = []string{
	" ", "  ", "\t", "\n", "\r", "\r\n", "\v", "\f", "'", "'s", "'S", "'re", "'ll", "'d", "'t", "'m", "'ve", "/",
	"a", "Z", "hello", "Hello", "HELLO", "0", "12", "1234", ".", ",", "!", "-", "\"", "(", ")",
	"é", "É", "ß", "ñ", "Ñ", "ǅ", "ǈ", "ʰ", "ʼ", "ˆ", "ー", "々", "中", "文", "字", "あ", "カ", "한", "글", "ا", "ب", "ש", "ก",
	"\u0301", "\u0308", "\u0903", "\u20dd", "\u0e31", "\u302a",
	"٣", "४", "Ⅷ", "½", "²", "𝟙",
	"\u00a0", "\u0085", "\u2028", "\u2029", "\u3000", "\u2003", "\u1680", "\u200b", "\u200d", "\ufeff",
	"€", "©", "→", "😀", "👍🏽", "·", "。", "、", "「", "」", "…", "—", "«", "»", "\ufffd",
	"ſ", "K", "İ", "ı", "'ſ", "'İ", "'é", "'ʼ", "'\u0301",
	"Привет", "мир", "Straße", "naïve", "東京", "𠀋", "𝒜", "𝓪",
}

func randomUnicode(rng *rand.Rand) string {
	var b strings.Builder
	for range 1 + rng.IntN(20) {
		b.WriteString(unicodeAlphabet[rng.IntN(len(unicodeAlphabet))])
	}
	return b.String()
}

// multilingual is prose as clients send it, beside the random texts.
var multilingual = []string{
	"Bonjour, je m'appelle Émilie et j'habite à Paris depuis 2019.",
	"Die Straße ist naß, aber wir gehen trotzdem spazieren — oder?",
	"Привет, мир! Как дела? Это тест токенизатора.",
	"東京は日本の首都です。人口は約1400万人です。",
	"人工智能正在改变世界，我们需要认真思考它的影响。",
	"안녕하세요. 오늘 날씨가 정말 좋네요!",
	"مرحبا بالعالم، هذا اختبار للمقسم.",
	"שלום עולם, זהו מבחן.",
	"Ελληνικά: Καλημέρα κόσμε, τι κάνεις;",
	"हिन्दी में एक वाक्य: नमस्ते दुनिया।",
	"ภาษาไทย สวัสดีครับ ทดสอบ",
	"Emoji 😀👍🏽 and café\u0301 with combining marks, ½ cup, ²³, Ⅻ.",
	"naïve coöperation résumé façade jalapeño",
	"  \u00a0 leading spaces\u3000and ideographic\u2028line separators  ",
	"code: if (x > 0) { return \"✓\"; } // ✗ otherwise\n\tnext();\n",
}

// TestUnicodePiecesMatchRegexp: on any text the Unicode scanner cuts
// exactly where the table's regexp does, piece for piece, in both tables.
func TestUnicodePiecesMatchRegexp(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for i, b := range loadTables(t) {
		e := testEncodings[i]
		texts := append([]string{"", "a"}, multilingual...)
		for _, c := range unicodeAlphabet {
			texts = append(texts, c, "a"+c+"b", " "+c+" x", c+"'s", "É"+c, "ʰ"+c+"a", c+"\u0301", "1"+c+"2")
		}
		for range 20000 {
			texts = append(texts, randomUnicode(rng))
		}
		samePieces(t, e, texts, func(s string) ([]string, []string) {
			return regexpPiecesUnicode(t, b, s), unicodePieces(t, b, s)
		})
	}
}

// TestUnicodeClasses: the scanner's classes are regexp2's, rune for rune,
// over the whole Basic Multilingual Plane and a stride of the rest.
func TestUnicodeClasses(t *testing.T) {
	loadClasses()
	classes := []struct {
		bit uint8
		re  string
	}{
		{uL, `\p{L}`}, {uN, `\p{N}`}, {uS, `\s`}, {uNL, `[\r\n]`},
		{uA, `[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]`}, {uB, `[\p{Ll}\p{Lm}\p{Lo}\p{M}]`},
	}
	for _, c := range classes {
		re := regexp2.MustCompile(`^`+c.re+`$`, regexp2.None)
		bad := 0
		for r := rune(0); r <= utf8.MaxRune; r++ {
			if r >= 1<<16 && r%97 != 0 || !utf8.ValidRune(r) {
				continue
			}
			want, err := re.MatchRunes([]rune{r})
			if err != nil {
				t.Fatal(err)
			}
			cls, _ := at(string(r), 0)
			if got := cls&c.bit != 0; got != want {
				if bad++; bad <= 5 {
					t.Errorf("%s: U+%04X: scanner %v, regexp2 %v", c.re, r, got, want)
				}
			}
		}
	}
}

// TestUnicodeContractions: of all runes, only ASCII letters fold to a
// contraction's (?i:'s|'t|'re|'ve|'m|'ll|'d) in regexp2, so the scanner
// reads contractions as ASCII only.
func TestUnicodeContractions(t *testing.T) {
	re := regexp2.MustCompile(`^(?i:'s|'t|'m|'d)$`, regexp2.None)
	re2 := regexp2.MustCompile(`^(?i:'re|'ve|'ll)$`, regexp2.None)
	for r := rune(0x80); r < 1<<16; r++ {
		if !utf8.ValidRune(r) {
			continue
		}
		for _, s := range []string{"'" + string(r), "'r" + string(r), "'" + string(r) + "e", "'l" + string(r)} {
			m1, _ := re.MatchString(s)
			m2, _ := re2.MatchString(s)
			if m1 || m2 {
				t.Errorf("regexp2 reads %q (U+%04X) as a contraction", s, r)
			}
		}
	}
}

// FuzzUnicodePieces: any text is cut as the regexp cuts it
// (go test -fuzz FuzzUnicodePieces ./gateway/tokens/).
func FuzzUnicodePieces(f *testing.F) {
	tables := loadTables(f)
	for _, s := range multilingual {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 2048 {
			return
		}
		if !utf8.ValidString(s) {
			s = string([]rune(s))
		}
		for _, b := range tables {
			if want, got := regexpPiecesUnicode(t, b, s), unicodePieces(t, b, s); !slices.Equal(want, got) {
				t.Fatalf("%q: scanner %q, regexp %q", s, got, want)
			}
		}
	})
}

func BenchmarkCountUnicode(b *testing.B) {
	enc, err := loadBPE(O200K)
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct{ name, text string }{
		{"french", strings.Repeat("Bonjour, je m'appelle Émilie et j'habite à Paris depuis 2019. Ça va très bien, merci!\n", 20)},
		{"russian", strings.Repeat("Привет, мир! Как дела? Это тест токенизатора, и он должен работать быстро.\n", 20)},
		{"chinese", strings.Repeat("人工智能正在改变世界，我们需要认真思考它的影响。东京是日本的首都。\n", 20)},
	} {
		b.Run(tc.name+"/scanner", func(b *testing.B) {
			b.SetBytes(int64(len(tc.text)))
			for b.Loop() {
				enc.count(tc.text)
			}
		})
		b.Run(tc.name+"/regexp", func(b *testing.B) {
			b.SetBytes(int64(len(tc.text)))
			for b.Loop() {
				countRegexp(b, enc, tc.text)
			}
		})
	}
}

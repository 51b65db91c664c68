package tokens

import (
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/pkoukk/tiktoken-go"
	tiktoken_loader "github.com/pkoukk/tiktoken-go-loader"
)

func TestCountText(t *testing.T) {
	tests := []struct {
		name  string
		model string
		text  string
		want  int
	}{
		{name: "empty", model: "gpt-4o", text: "", want: 0},
		{name: "hello world o200k", model: "gpt-4o", text: "Hello world", want: 2},
		{name: "hello world cl100k", model: "gpt-4", text: "Hello world", want: 2},
		{name: "tiktoken is great o200k", model: "gpt-4o-mini", text: "tiktoken is great!", want: 6},
		{name: "tiktoken is great cl100k", model: "gpt-3.5-turbo", text: "tiktoken is great!", want: 6},
		{name: "special token text counted as ordinary", model: "gpt-4o", text: "<|endoftext|>", want: 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CountTextFor(tt.model, tt.text); got != tt.want {
				t.Fatalf("CountTextFor(%q, %q) = %d, want %d", tt.model, tt.text, got, tt.want)
			}
		})
	}
}

func TestEncodingFor(t *testing.T) {
	tests := []struct {
		model string
		want  Encoding
	}{
		{"gpt-4o", O200K},
		{"gpt-4o-mini-2024-07-18", O200K},
		{"gpt-4.1-nano", O200K},
		{"o3-mini", O200K},
		{"gpt-5", O200K},
		{"gpt-4-turbo", CL100K},
		{"gpt-3.5-turbo-0125", CL100K},
		{"text-embedding-3-small", CL100K},
		{"ft:gpt-4o-mini:acme::abc", O200K},
		{"ft:gpt-3.5-turbo:acme::abc", CL100K},
		{"llama-3-70b", O200K},
	}
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			if got := EncodingFor(tt.model); got != tt.want {
				t.Fatalf("EncodingFor(%q) = %s, want %s", tt.model, got, tt.want)
			}
		})
	}
}

func TestEstimateJSON(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want int
	}{
		// 3 (reply) + 3 + role "user" (1) + "Hello world" (2)
		{name: "one message", raw: `[{"role":"user","content":"Hello world"}]`, want: 9},
		// + name: 1 + "bob" (1)
		{name: "named message", raw: `[{"role":"user","name":"bob","content":"Hello world"}]`, want: 11},
		{name: "content parts", raw: `[{"role":"user","content":[{"type":"text","text":"Hello world"},{"type":"image_url","image_url":{"url":"x"}}]}]`, want: 9 + tokensPerImage},
		{name: "null content", raw: `[{"role":"assistant","content":null}]`, want: 7},
		{name: "empty", raw: `[]`, want: tokensReply},
		{name: "garbage counted as text", raw: `not json`, want: CountText("not json")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := EstimateJSON("gpt-4o", []byte(tt.raw)); got != tt.want {
				t.Fatalf("EstimateJSON = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestCountPrompt(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want int
	}{
		{name: "string", raw: `"Hello world"`, want: 2},
		{name: "strings", raw: `["Hello world","Hello world"]`, want: 4},
		{name: "token ids", raw: `[1,2,3]`, want: 3},
		{name: "nested token ids", raw: `[[1,2],[3]]`, want: 3},
		{name: "absent", raw: ``, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CountPrompt("gpt-4o", []byte(tt.raw)); got != tt.want {
				t.Fatalf("CountPrompt = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestFallback(t *testing.T) {
	for _, tt := range []struct {
		s    string
		want int
	}{{"", 0}, {"a", 1}, {"abcd", 1}, {"abcde", 2}} {
		t.Run(tt.s, func(t *testing.T) {
			if got := Fallback(tt.s); got != tt.want {
				t.Fatalf("Fallback(%q) = %d, want %d", tt.s, got, tt.want)
			}
		})
	}
}

func TestMemoBounded(t *testing.T) {
	for i := 0; i < memoShards*memoShardMax*2; i++ {
		memo.put(O200K, strings.Repeat("x", i%50)+string(rune('a'+i%26))+strings.Repeat("y", i/50), i)
	}
	for i := range memo.shards {
		sh := &memo.shards[i]
		sh.mu.RLock()
		n := len(sh.m)
		sh.mu.RUnlock()
		if n > memoShardMax {
			t.Fatalf("shard %d holds %d entries, bound %d", i, n, memoShardMax)
		}
	}
}

func FuzzEstimate(f *testing.F) {
	f.Add("gpt-4o", []byte(`[{"role":"user","content":"hi"}]`))
	f.Add("gpt-4", []byte(`[{"role":"user","content":[{"type":"text","text":"\u0000\xff"}]}]`))
	f.Add("", []byte("\xff\xfe<|endoftext|>"))
	f.Fuzz(func(t *testing.T, model string, raw []byte) {
		if n := EstimateJSON(model, raw); n < 0 {
			t.Fatalf("negative estimate %d", n)
		}
		if n := CountPrompt(model, raw); n < 0 {
			t.Fatalf("negative count %d", n)
		}
		if n := CountText(string(raw)); len(raw) > 0 && n == 0 {
			t.Fatalf("non-empty text counted as 0 tokens")
		}
	})
}

var benchMsgs = `[{"role":"system","content":"You are a helpful assistant that answers briefly."},{"role":"user","content":"Explain the difference between a mutex and a semaphore in two sentences, please."}]`

func BenchmarkEstimateJSON(b *testing.B) {
	Warm()
	b.ReportAllocs()
	for b.Loop() {
		EstimateJSON("gpt-4o-mini", []byte(benchMsgs))
	}
}

func BenchmarkCountTextUncached(b *testing.B) {
	Warm()
	long := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 300) // > memoMaxLen, < exactMaxLen
	b.SetBytes(int64(len(long)))
	b.ReportAllocs()
	for b.Loop() {
		CountText(long)
	}
}

func TestExtrapolateClose(t *testing.T) {
	long := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 1000)
	got := CountText(long)
	want := 10 * 1000 // 9 words + '.' per sentence in o200k
	if got < want*9/10 || got > want*11/10 {
		t.Fatalf("CountText(long) = %d, want within 10%% of %d", got, want)
	}
	multi := strings.Repeat("é", exactMaxLen) // 2-byte runes around every cut
	if n := CountText(multi); n <= 0 {
		t.Fatalf("CountText(multi-byte) = %d", n)
	}
}

// testEncodings are the tables the tests load, in loadTables's order.
var testEncodings = []Encoding{O200K, CL100K}

// loadTables loads a fresh copy of each of testEncodings.
func loadTables(tb testing.TB) []*bpe {
	tb.Helper()
	var out []*bpe
	for _, e := range testEncodings {
		b, err := loadBPE(e)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// referenceTables is tiktoken-go's encoding of each of testEncodings.
func referenceTables(tb testing.TB) []*tiktoken.Tiktoken {
	tb.Helper()
	tiktoken.SetBpeLoader(tiktoken_loader.NewOfflineLoader())
	var out []*tiktoken.Tiktoken
	for _, e := range testEncodings {
		ref, err := tiktoken.GetEncoding(string(e))
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, ref)
	}
	return out
}

// TestTablesAreNotScanned attacks the gateway's tails: every garbage
// collection marks every pointer the heap holds, and a BPE table kept as
// Go maps of strings is hundreds of thousands of them (tiktoken-go's
// o200k_base and cl100k_base: 440,950 heap objects, 33 MiB). At 2,000
// requests a second that made each collection cost the gateway 21-28 ms
// of CPU against the bare proxy's 2.4 ms (docs/benchmarks.md), which is
// where its p99 went. Loaded, both tables must add next to no objects.
func TestTablesAreNotScanned(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	loaded := loadTables(t)
	runtime.GC()
	runtime.ReadMemStats(&after)
	objects := int64(after.HeapObjects) - int64(before.HeapObjects)
	t.Logf("the tables hold %d heap objects, %d MiB", objects, (int64(after.HeapAlloc)-int64(before.HeapAlloc))>>20)
	if objects > 10_000 {
		t.Errorf("loading the tables added %d heap objects for every collection to mark; want fewer than 10,000", objects)
	}
	runtime.KeepAlive(loaded)
}

// TestBPEMatchesTiktoken: the gateway's counter and tiktoken-go's
// EncodeOrdinary agree on every text of a corpus of prose, code, JSON,
// numbers, whitespace runs, contractions, scripts other than Latin, emoji
// and invalid UTF-8, and on random texts drawn from all of those, in both
// tables.
func TestBPEMatchesTiktoken(t *testing.T) {
	corpus := []string{
		"", " ", "a", "hello world", "Hello, World!", "tiktoken is great!",
		"I'm sure they'll say it's fine; we've done what we'd said.", "DON'T SHOUT", "HeLLo WoRLD",
		"The quick brown fox jumps over the lazy dog.\n\nAnd again:\tthe quick brown fox.",
		"func main() {\n\tfmt.Println(\"hi\")\n}\n", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`,
		"1234567890 3.14159 -42 1e10 0x1F", "    leading and trailing    ", "\r\n\r\n\n\n   \n",
		"日本語のテキストも数えます。", "Ünïcödé façade naïve café", "Привет, мир", "مرحبا بالعالم", "👋🏽 emoji 🎉🎉🎉 and ZWJ 👨‍👩‍👧",
		"https://example.com/path/to/thing?x=1&y=2#frag", "a/b/c\\d", "<|endoftext|> is ordinary here",
		strings.Repeat("ab", 300), strings.Repeat(" ", 100), strings.Repeat("x", 1000),
		"invalid \xff\xfe bytes \xc3", "\xe2\x82", "mixed\x00nul",
	}
	pieces := []string{"the", " The", "'s", "'LL", "123", "4567", " ", "  ", "\n", "\t", ".", "!?", "//", "日本", "ü", "👍", "\xff", "é", "x", "Q", "{", "}", "\"", "\u00a0"}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 3000 {
		var b strings.Builder
		for range 1 + rng.IntN(40) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		corpus = append(corpus, b.String())
	}
	refs := referenceTables(t)
	for i, ours := range loadTables(t) {
		e, ref := testEncodings[i], refs[i]
		bad := 0
		for _, s := range corpus {
			if got, want := ours.count(s), len(ref.EncodeOrdinary(s)); got != want {
				if bad++; bad <= 10 {
					t.Errorf("%s: %q: %d tokens, tiktoken-go %d", e, s, got, want)
				}
			}
		}
		if bad > 0 {
			t.Errorf("%s: %d of %d texts counted differently", e, bad, len(corpus))
		}
	}
}

// FuzzBPEMatchesTiktoken: any text, any bytes, counts as tiktoken-go counts
// it, in both tables (go test -fuzz FuzzBPEMatchesTiktoken ./gateway/tokens/).
func FuzzBPEMatchesTiktoken(f *testing.F) {
	refs, ours := referenceTables(f), loadTables(f)
	for _, s := range []string{"", "Hello, World!", "I'LL say it's\n\n  done  ", "日本語 👋🏽", "\xff\xfe", "12345 6.7e8", "a\r\n\r\nb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 4096 {
			return
		}
		for i, b := range ours {
			if got, want := b.count(s), len(refs[i].EncodeOrdinary(s)); got != want {
				t.Fatalf("%s: %q: %d tokens, tiktoken-go %d", testEncodings[i], s, got, want)
			}
		}
	})
}

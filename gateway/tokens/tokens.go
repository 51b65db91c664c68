// Package tokens estimates how many tokens a prompt costs before the upstream
// says so: the gateway reserves TPM and quota with it, and bills a stream
// that ended without a usage chunk with it.
//
// Counting uses OpenAI's own BPE tables (o200k_base for current models,
// cl100k_base for the GPT-4/3.5 era), loaded once and offline from the
// tables embedded in tiktoken-go-loader, into tables the garbage collector
// does not scan (bpe.go), and counts as tiktoken does. When a table cannot be loaded the
// count falls back to one token per four bytes, OpenAI's rule of thumb, so
// an estimate is always available and never zero for non-empty text.
package tokens

import (
	"encoding/json"
	"hash/maphash"
	"strings"
	"sync"
	"unicode/utf8"
	"unsafe"

	"github.com/oais/oais/gateway/jsonscan"
)

// Encoding names a BPE table.
type Encoding string

// The tables this package knows.
const (
	O200K  Encoding = "o200k_base"
	CL100K Encoding = "cl100k_base"
)

// Per-message overhead from OpenAI's cookbook ("How to count tokens with
// tiktoken"): every message is wrapped as <|start|>{role/name}\n{content}<|end|>\n,
// and every reply is primed with <|start|>assistant<|message|>.
const (
	tokensPerMessage = 3
	tokensPerName    = 1
	tokensReply      = 3
	// tokensPerImage is the cost of a low-detail image; a high-detail one
	// can cost more, but the size is unknown before it is fetched.
	tokensPerImage = 85
)

type table struct {
	once sync.Once
	enc  *bpe // nil when the table could not be loaded
}

var tables = map[Encoding]*table{O200K: {}, CL100K: {}}

func (t *table) get(name Encoding) *bpe {
	t.once.Do(func() {
		if enc, err := loadBPE(name); err == nil {
			t.enc = enc
		}
	})
	return t.enc
}

// Warm loads the tables now, so the first request does not pay for it
// (about 0.1 s for o200k_base). It reports whether they loaded.
func Warm() bool {
	return tables[O200K].get(O200K) != nil && tables[CL100K].get(CL100K) != nil
}

// EncodingFor returns the table a model uses. Unknown models get o200k_base,
// the table of every OpenAI model since gpt-4o.
func EncodingFor(model string) Encoding {
	m := model
	// Fine-tunes are named ft:<base>:<org>...; count them as their base.
	m = strings.TrimPrefix(m, "ft:")
	switch {
	case strings.HasPrefix(m, "gpt-4o"), strings.HasPrefix(m, "gpt-4.1"), strings.HasPrefix(m, "gpt-4.5"):
		return O200K
	case strings.HasPrefix(m, "gpt-4"), strings.HasPrefix(m, "gpt-3.5"),
		strings.HasPrefix(m, "text-embedding-"), strings.HasPrefix(m, "davinci-002"), strings.HasPrefix(m, "babbage-002"):
		return CL100K
	}
	return O200K
}

// CountText returns the number of o200k_base tokens in s.
func CountText(s string) int { return count(O200K, s) }

// CountTextFor returns the number of tokens in s with model's table.
func CountTextFor(model, s string) int { return count(EncodingFor(model), s) }

// Fallback is the estimate used when no table is available: a token per
// four bytes, rounded up.
func Fallback(s string) int { return (len(s) + 3) / 4 }

func count(e Encoding, s string) (n int) {
	if s == "" {
		return 0
	}
	t := tables[e]
	enc := t.get(e)
	if enc == nil {
		return Fallback(s)
	}
	// Short texts (system prompts, chat turns) repeat a lot, and a text
	// that is not ASCII goes through the regexp pre-tokenizer (a few MB/s;
	// ASCII is scanned at ~200 MB/s, ascii.go), so their counts are
	// memoised; long texts are rare enough to count every time.
	if len(s) <= memoMaxLen {
		if n, ok := memo.get(e, s); ok {
			return n
		}
	}
	if len(s) > exactMaxLen {
		return extrapolate(e, enc, s)
	}
	return encode(e, enc, s)
}

// exactMaxLen bounds the texts counted exactly. The pre-tokenizer of a
// text that is not ASCII is a backtracking regexp that runs at a few MB/s,
// so a 100 KiB prompt would cost tens of milliseconds on the request path; longer texts are counted from a
// head and a tail sample of sampleLen bytes each and scaled by length. An
// estimate only reserves limits; the upstream's usage is what gets billed.
const (
	exactMaxLen = 16 << 10
	sampleLen   = 4 << 10
)

func extrapolate(e Encoding, enc *bpe, s string) int {
	head := s[:runeStart(s, sampleLen)]
	tail := s[runeStart(s, len(s)-sampleLen):]
	sampled := len(head) + len(tail)
	n := encode(e, enc, head) + encode(e, enc, tail)
	return int(int64(n) * int64(len(s)) / int64(sampled))
}

// runeStart moves i back to the start of the UTF-8 sequence it falls in.
func runeStart(s string, i int) int {
	for j := 0; j < 3 && i > 0 && i < len(s) && s[i]&0xC0 == 0x80; j++ {
		i--
	}
	return i
}

func encode(e Encoding, enc *bpe, s string) (n int) {
	defer func() {
		// The tokenizer is third-party code fed with client input; a panic
		// in it must cost accuracy, not the request.
		if recover() != nil {
			n = Fallback(s)
		}
	}()
	n = enc.count(s)
	if len(s) <= memoMaxLen {
		memo.put(e, s, n)
	}
	return n
}

// Message is a chat message as far as counting goes.
type Message struct {
	Role      string     `json:"role"`
	Name      string     `json:"name,omitempty"`
	Content   Content    `json:"content"`
	ToolCalls []ToolCall `json:"tool_calls,omitempty"`
}

// ToolCall is the part of an assistant's tool call that costs tokens.
type ToolCall struct {
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

// Content is a message's content: a string, or an array of parts of which
// text parts are kept and image parts counted.
type Content struct {
	Text   string
	Images int
}

// UnmarshalJSON accepts a string, null, or an array of content parts.
func (c *Content) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	if b[0] == '"' {
		return json.Unmarshal(b, &c.Text)
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(b, &parts); err != nil {
		return err
	}
	var sb strings.Builder
	for _, p := range parts {
		switch p.Type {
		case "text", "input_text":
			sb.WriteString(p.Text)
		case "image_url", "input_image":
			c.Images++
		}
	}
	c.Text = sb.String()
	return nil
}

// Estimate returns the prompt tokens of a chat request's messages, with the
// cookbook's per-message overhead.
func Estimate(model string, msgs []Message) int {
	e := EncodingFor(model)
	n := tokensReply
	for i := range msgs {
		m := &msgs[i]
		n += tokensPerMessage + count(e, m.Role) + count(e, m.Content.Text) + m.Content.Images*tokensPerImage
		if m.Name != "" {
			n += tokensPerName + count(e, m.Name)
		}
		for j := range m.ToolCalls {
			n += count(e, m.ToolCalls[j].Function.Name) + count(e, m.ToolCalls[j].Function.Arguments)
		}
	}
	return n
}

// EstimateJSON is Estimate for a raw JSON messages array. Input that does
// not parse is counted as text, so a bad body still gets an estimate.
func EstimateJSON(model string, raw []byte) int {
	var msgs []Message
	if err := json.Unmarshal(raw, &msgs); err != nil {
		return CountTextFor(model, string(raw))
	}
	return Estimate(model, msgs)
}

// CountPrompt returns the tokens of a completions "prompt" or an embeddings
// "input": a string, an array of strings, or already tokenized arrays.
func CountPrompt(model string, raw []byte) int {
	if len(raw) == 0 {
		return 0
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return CountTextFor(model, s)
	}
	var ss []string
	if json.Unmarshal(raw, &ss) == nil {
		n := 0
		for _, s := range ss {
			n += CountTextFor(model, s)
		}
		return n
	}
	var ids []int
	if json.Unmarshal(raw, &ids) == nil {
		return len(ids)
	}
	var nested [][]int
	if json.Unmarshal(raw, &nested) == nil {
		n := 0
		for _, ids := range nested {
			n += len(ids)
		}
		return n
	}
	return CountTextFor(model, string(raw))
}

// EstimateInput returns the prompt tokens of a Responses API request: its
// instructions (a string) and its input, a string or an array of input
// items, of which message items are counted like chat messages (other
// items, function call outputs and the like, count their role overhead
// only; the upstream's usage settles the difference).
func EstimateInput(model string, input, instructions []byte) int {
	n := 0
	if len(instructions) > 0 && string(instructions) != "null" {
		n += CountPrompt(model, instructions)
	}
	if len(input) == 0 || string(input) == "null" {
		return n
	}
	if input[0] == '"' {
		return n + CountPrompt(model, input)
	}
	return n + EstimateJSON(model, input)
}

// memoMaxLen bounds the texts whose counts are memoised; with memoShards *
// memoShardMax entries the memo holds at most a few MiB.
const (
	memoMaxLen   = 2048
	memoShards   = 32
	memoShardMax = 512
)

type memoKey struct {
	e Encoding
	s string
}

type memoShard struct {
	mu sync.RWMutex
	m  map[memoKey]int
}

type memoTable struct {
	seed   maphash.Seed
	shards [memoShards]memoShard
}

var memo = newMemo()

func newMemo() *memoTable {
	t := &memoTable{seed: maphash.MakeSeed()}
	for i := range t.shards {
		t.shards[i].m = make(map[memoKey]int)
	}
	return t
}

func (t *memoTable) shard(s string) *memoShard {
	return &t.shards[maphash.String(t.seed, s)%memoShards]
}

func (t *memoTable) get(e Encoding, s string) (int, bool) {
	sh := t.shard(s)
	sh.mu.RLock()
	n, ok := sh.m[memoKey{e, s}]
	sh.mu.RUnlock()
	return n, ok
}

func (t *memoTable) put(e Encoding, s string, n int) {
	sh := t.shard(s)
	sh.mu.Lock()
	// Dropping a full shard wholesale is cruder than LRU but needs no
	// bookkeeping on the read path; hot texts come back at once.
	if len(sh.m) >= memoShardMax {
		clear(sh.m)
	}
	// Clone: s may be a view into a request body that must not be pinned.
	sh.m[memoKey{e, strings.Clone(s)}] = n
	sh.mu.Unlock()
}

// EstimateMessagesRaw is Estimate over a raw JSON messages value that is
// known to be valid JSON, without decoding it into []Message. It handles
// the common shape only (an array of objects whose role, name and content
// are strings or null, without tool calls); for anything else it reports
// false, and the caller decodes the messages the general way. When it
// reports true, the count is the one Estimate gives for the decoded
// messages.
func EstimateMessagesRaw(model string, raw []byte) (int, bool) {
	i := jsonscan.SkipSpace(raw, 0)
	if i >= len(raw) {
		return 0, false
	}
	e := EncodingFor(model)
	if raw[i] == 'n' { // null: no messages
		return tokensReply, true
	}
	if raw[i] != '[' {
		return 0, false
	}
	n := tokensReply
	i = jsonscan.SkipSpace(raw, i+1)
	if i < len(raw) && raw[i] == ']' {
		return n, true
	}
	for i < len(raw) {
		if raw[i] != '{' {
			return 0, false
		}
		var role, name, content string
		i = jsonscan.SkipSpace(raw, i+1)
		if i < len(raw) && raw[i] == '}' {
			i++
		}
		for i < len(raw) && raw[i] == '"' {
			kEnd := jsonscan.EndOfString(raw, i+1)
			key := raw[i+1 : kEnd]
			i = jsonscan.SkipSpace(raw, kEnd+1)
			i = jsonscan.SkipSpace(raw, i+1) // the colon
			vEnd := jsonscan.SkipValue(raw, i)
			val := raw[i:vEnd]
			var dst *string
			switch string(key) {
			case "role":
				dst = &role
			case "name":
				dst = &name
			case "content":
				dst = &content
			case "tool_calls":
				if string(val) != "null" {
					return 0, false
				}
			default:
				for _, k := range [...]string{"role", "name", "content", "tool_calls"} {
					if strings.EqualFold(string(key), k) {
						return 0, false // encoding/json would match it: let it
					}
				}
			}
			if dst != nil {
				switch {
				case string(val) == "null": // leaves the field as it was
				case val[0] == '"':
					s, ok := jsonStringValue(val)
					if !ok {
						return 0, false
					}
					*dst = s
				default:
					return 0, false
				}
			}
			i = jsonscan.SkipSpace(raw, vEnd)
			if i < len(raw) && raw[i] == ',' {
				i = jsonscan.SkipSpace(raw, i+1)
				continue
			}
			if i < len(raw) && raw[i] == '}' {
				i++
			}
			break
		}
		n += tokensPerMessage + count(e, role) + count(e, content)
		if name != "" {
			n += tokensPerName + count(e, name)
		}
		i = jsonscan.SkipSpace(raw, i)
		if i < len(raw) && raw[i] == ',' {
			i = jsonscan.SkipSpace(raw, i+1)
			continue
		}
		if i < len(raw) && raw[i] == ']' {
			return n, true
		}
		return 0, false
	}
	return 0, false
}

// jsonStringValue returns the text of a JSON string token. A token that
// needs decoding (escapes, or bytes that are not UTF-8, which
// encoding/json replaces) goes through encoding/json; the common plain one
// is returned as a view into tok, valid while tok is unchanged.
func jsonStringValue(tok []byte) (string, bool) {
	body := tok[1 : len(tok)-1]
	plain := true
	for _, c := range body {
		if c == '\\' || c >= 0x80 {
			plain = false
			break
		}
	}
	if plain || (utf8.Valid(body) && !bytesContains(body, '\\')) {
		// A view, not a copy: the text only lives while it is counted,
		// and the memo clones what it keeps.
		if len(body) == 0 {
			return "", true
		}
		return unsafe.String(&body[0], len(body)), true
	}
	var s string
	if json.Unmarshal(tok, &s) != nil {
		return "", false
	}
	return s, true
}

func bytesContains(b []byte, c byte) bool {
	for _, x := range b {
		if x == c {
			return true
		}
	}
	return false
}

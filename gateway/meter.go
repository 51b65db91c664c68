package gateway

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/oais/oais/gateway/jsonscan"
	"github.com/oais/oais/internal/usage"
)

// upstreamUsage is OpenAI's usage object, as far as billing needs it.
type upstreamUsage struct {
	PromptTokens        int64 `json:"prompt_tokens"`
	CompletionTokens    int64 `json:"completion_tokens"`
	PromptTokensDetails *struct {
		CachedTokens int64 `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
	// malformed: a count was there but was no int64 integer (9e18, 1e30,
	// 12.5, "12", past int64's range); its field was left at zero.
	malformed bool
}

// cached is the reported cached prompt tokens, 0 if none.
func (u *upstreamUsage) cached() int64 {
	if u.PromptTokensDetails == nil {
		return 0
	}
	return u.PromptTokensDetails.CachedTokens
}

// usageNames are the keys of a usage object: those of chat completions
// (and of completions and embeddings), or those of the Responses API.
type usageNames struct{ prompt, completion, details string }

var (
	chatUsage      = usageNames{"prompt_tokens", "completion_tokens", "prompt_tokens_details"}
	responsesUsage = usageNames{"input_tokens", "output_tokens", "input_tokens_details"}
)

// plausible reports whether every count is an integer in [0,
// usage.MaxTokens]. Anything else is refused as absurd: a record holds the
// gateway's own estimate instead, so that no upstream (a workspace's own is
// set by any of its admins) can wrap a workspace's totals or stall a batch
// of the ledger.
func (u *upstreamUsage) plausible() bool {
	in := func(n int64) bool { return n >= 0 && n <= usage.MaxTokens }
	return !u.malformed && in(u.PromptTokens) && in(u.CompletionTokens) && in(u.cached())
}

// meterResult is what a metered body learned by the time it closed.
type meterResult struct {
	usage    upstreamUsage
	hasUsage bool
	// text is the streamed content seen so far (JSON-escaped), for an
	// estimate when the stream ends without usage; textBytes counts all of
	// it even beyond what text kept.
	text      []byte
	textBytes int64
	sawDone   bool
}

// Buffers of the SSE scanner. An event longer than sseMaxEvent is passed
// through unparsed; OpenAI's chunks are well under 1 KiB, the usage one too.
const (
	sseBufSize  = 8 << 10
	sseMaxEvent = 256 << 10
	// maxStreamText bounds the streamed text kept for an estimate; past it
	// the estimate scales by byte count.
	maxStreamText = 64 << 10
)

var sseBufPool = sync.Pool{New: func() any { b := make([]byte, sseBufSize); return &b }}

// sseMeter relays an SSE body byte for byte, event by event, and watches
// it: it decodes the one chunk carrying a usage object, optionally hides
// that chunk (when the gateway asked for it on the client's behalf), and
// keeps the streamed text for an estimate should no usage come.
type sseMeter struct {
	src       io.ReadCloser
	hideUsage bool
	// responses: a Responses API stream, whose usage rides in its final
	// event (response.completed, .incomplete or .failed) under "response".
	responses bool
	bufp      *[]byte
	buf       []byte // *bufp, or a larger one for a long event
	start     int
	end       int
	ready     []byte // scanned, to hand to the reader
	err       error
	res       meterResult
}

func newSSEMeter(src io.ReadCloser, hideUsage bool) *sseMeter {
	m := new(sseMeter)
	m.init(src, hideUsage)
	return m
}

// init makes m a fresh meter on src (the gateway's live in its calls).
func (m *sseMeter) init(src io.ReadCloser, hideUsage bool) {
	bp := sseBufPool.Get().(*[]byte)
	*m = sseMeter{src: src, hideUsage: hideUsage, bufp: bp, buf: *bp}
}

// Read hands over whole events only: an SSE client acts on an event only
// once its blank line arrives, so holding back a partial event costs the
// client nothing and lets a usage chunk be dropped whole. It hands over
// every complete event received so far that fits p, so the relay writes
// (and flushes) once per upstream read, not once per event.
func (m *sseMeter) Read(p []byte) (int, error) {
	n := 0
	for {
		if len(m.ready) > 0 {
			k := copy(p[n:], m.ready)
			m.ready = m.ready[k:]
			n += k
			if n == len(p) {
				return n, nil
			}
			continue
		}
		if ev, ok := m.nextEvent(); ok {
			if m.scan(ev) {
				m.ready = ev
			}
			continue
		}
		if n > 0 {
			return n, nil // before waiting for more
		}
		if m.err != nil {
			if m.start < m.end {
				// A trailing event without its blank line: pass it on as is.
				m.ready = m.buf[m.start:m.end]
				m.scan(m.ready)
				m.start = m.end
				continue
			}
			return 0, m.err
		}
		m.fill()
	}
}

// nextEvent cuts the next complete event (with its blank line) off the
// received bytes.
func (m *sseMeter) nextEvent() ([]byte, bool) {
	b := m.buf[m.start:m.end]
	for i := 0; i < len(b); i++ {
		if b[i] != '\n' {
			continue
		}
		// An event ends with a blank line: "\n\n" or "\n\r\n".
		j := i + 1
		if j < len(b) && b[j] == '\r' {
			j++
		}
		if j < len(b) && b[j] == '\n' {
			ev := b[:j+1]
			m.start += j + 1
			return ev, true
		}
	}
	return nil, false
}

// fill reads more of the body, making room first.
func (m *sseMeter) fill() {
	if m.start > 0 && m.start == m.end {
		m.start, m.end = 0, 0
	}
	if m.end == len(m.buf) {
		switch {
		case m.start > 0:
			m.end = copy(m.buf, m.buf[m.start:m.end])
			m.start = 0
		case len(m.buf) < sseMaxEvent:
			nb := make([]byte, 2*len(m.buf))
			m.end = copy(nb, m.buf[m.start:m.end])
			m.start = 0
			m.buf = nb
		default:
			// A single event bigger than sseMaxEvent: relay it unparsed.
			m.ready = m.buf[m.start:m.end]
			m.start, m.end = 0, 0
			return
		}
	}
	n, err := m.src.Read(m.buf[m.end:])
	m.end += n
	if err != nil {
		m.err = err
	}
}

var (
	dataPrefix = []byte("data:")
	usageKey   = []byte(`"usage"`)
	doneData   = []byte("[DONE]")
)

// scan looks at one event and reports whether to pass it on.
func (m *sseMeter) scan(ev []byte) bool {
	data := eventData(ev)
	if data == nil {
		return true
	}
	if bytes.Equal(data, doneData) {
		m.res.sawDone = true
		return true
	}
	if m.responses {
		m.scanResponses(data)
		return true
	}
	if hasUsageObject(data) {
		if u, choices, ok := decodeUsageChunk(data); ok && u != nil {
			m.res.usage = *u
			m.res.hasUsage = true
			if m.hideUsage && choices == 0 {
				return false
			}
		}
	}
	m.res.collectText(data)
	return true
}

// scanResponses watches one event of a Responses stream. Only the final
// event carries a usage object (the others say "usage":null, or nothing),
// so only it is decoded; the deltas are kept for an estimate.
func (m *sseMeter) scanResponses(data []byte) {
	if !hasUsageObject(data) {
		m.res.collectTextOf(data, deltaKeys)
		return
	}
	var ev struct {
		Type     string `json:"type"`
		Response *struct {
			Usage json.RawMessage `json:"usage"`
		} `json:"response"`
	}
	if json.Unmarshal(data, &ev) != nil || ev.Response == nil || len(ev.Response.Usage) == 0 || ev.Response.Usage[0] != '{' {
		return
	}
	switch ev.Type {
	case "response.completed", "response.incomplete", "response.failed":
		if u, ok := decodeUsageAs(ev.Response.Usage, &responsesUsage); ok {
			m.res.usage, m.res.hasUsage = u, true
		}
	}
}

// eventData returns the payload of an event's (first) data line.
func eventData(ev []byte) []byte {
	for len(ev) > 0 {
		line := ev
		if i := bytes.IndexByte(ev, '\n'); i >= 0 {
			line, ev = ev[:i], ev[i+1:]
		} else {
			ev = nil
		}
		if rest, ok := bytes.CutPrefix(line, dataPrefix); ok {
			rest = bytes.TrimSuffix(rest, []byte{'\r'})
			return bytes.TrimPrefix(rest, []byte{' '})
		}
	}
	return nil
}

// hasUsageObject reports whether data has "usage" followed by an object:
// once usage is asked for, OpenAI puts "usage":null on every chunk, and
// only the last one deserves a decode.
func hasUsageObject(data []byte) bool {
	for {
		i := bytes.Index(data, usageKey)
		if i < 0 {
			return false
		}
		data = data[i+len(usageKey):]
		j := jsonscan.SkipSpace(data, 0)
		if j < len(data) && data[j] == ':' {
			j = jsonscan.SkipSpace(data, j+1)
			if j < len(data) && data[j] == '{' {
				return true
			}
		}
	}
}

// Keys whose string values are generated text: chat deltas, tool-call
// arguments, and legacy completions.
var textKeys = [][]byte{[]byte(`"content"`), []byte(`"text"`), []byte(`"arguments"`)}

// deltaKeys hold a Responses stream's generated text: its *.delta events
// (the *.done and final events repeat it whole, and are not counted).
var deltaKeys = [][]byte{[]byte(`"delta"`)}

// collectText keeps the generated text of data (a chunk, or a whole answer),
// still JSON-escaped, without decoding it.
func (r *meterResult) collectText(data []byte) { r.collectTextOf(data, textKeys) }

// collectTextOf keeps the string values of keys in data.
func (r *meterResult) collectTextOf(data []byte, keys [][]byte) {
	for _, key := range keys {
		rest := data
		for {
			i := bytes.Index(rest, key)
			if i < 0 {
				break
			}
			rest = rest[i+len(key):]
			j := jsonscan.SkipSpace(rest, 0)
			if j >= len(rest) || rest[j] != ':' {
				continue
			}
			j = jsonscan.SkipSpace(rest, j+1)
			if j >= len(rest) || rest[j] != '"' {
				continue
			}
			s := rest[j+1:]
			k := jsonscan.EndOfString(s, 0)
			r.textBytes += int64(k)
			if room := maxStreamText - len(r.text); room > 0 {
				r.text = append(r.text, s[:min(k, room)]...)
			}
			rest = s[k:]
		}
	}
}

// Close closes the upstream body and returns the buffer to its pool.
func (m *sseMeter) Close() error {
	err := m.src.Close()
	if m.bufp != nil {
		sseBufPool.Put(m.bufp)
		m.bufp = nil
		m.buf, m.ready = nil, nil
		m.start, m.end = 0, 0
	}
	return err
}

// result is valid once the body is closed.
func (m *sseMeter) result() *meterResult { return &m.res }

// jsonMeter relays a JSON body untouched and keeps its head and tail, which
// is where an OpenAI answer's usage object sits.
type jsonMeter struct {
	src   io.ReadCloser
	names *usageNames // nil: chatUsage
	// top finds a Responses answer's top-level usage over the whole body
	// (names is &responsesUsage): the answer echoes client objects (tool
	// schemas, text.format) before it and client metadata after it, so
	// neither window can be trusted to hold the real one.
	top   topUsage
	head  []byte // the first metaWindow bytes
	tail  []byte // ring of the last metaWindow bytes after head
	tpos  int
	total int64
	res   meterResult
	done  bool
}

const metaWindow = 8 << 10

func newJSONMeter(src io.ReadCloser) *jsonMeter { return &jsonMeter{src: src} }

func (m *jsonMeter) Read(p []byte) (int, error) {
	n, err := m.src.Read(p)
	m.keep(p[:n])
	if err == io.EOF {
		m.finish()
	}
	return n, err
}

func (m *jsonMeter) keep(b []byte) {
	m.total += int64(len(b))
	if m.names == &responsesUsage {
		m.top.feed(b)
	}
	if room := metaWindow - len(m.head); room > 0 {
		k := min(room, len(b))
		m.head = append(m.head, b[:k]...)
		b = b[k:]
	}
	if len(b) == 0 {
		return
	}
	if m.tail == nil {
		m.tail = make([]byte, 0, metaWindow)
	}
	if len(b) >= metaWindow {
		m.tail = append(m.tail[:0], b[len(b)-metaWindow:]...)
		m.tpos = 0
		return
	}
	for len(b) > 0 {
		if len(m.tail) < metaWindow {
			k := min(metaWindow-len(m.tail), len(b))
			m.tail = append(m.tail, b[:k]...)
			b = b[k:]
			continue
		}
		k := copy(m.tail[m.tpos:], b)
		m.tpos = (m.tpos + k) % metaWindow
		b = b[k:]
	}
}

// whole meters a body read whole by the relay, in place. Without a
// plausible usage object it keeps the answer's text for an estimate: b is
// the relay's buffer and gone by the time the call settles.
func (m *jsonMeter) whole(b []byte) {
	m.total, m.done = int64(len(b)), true
	if m.names == &responsesUsage {
		m.top.feed(b)
		m.res.usage, m.res.hasUsage = m.top.usage()
	} else {
		m.res.usage, m.res.hasUsage = findUsage(b, m.names)
	}
	if !m.res.hasUsage || !m.res.usage.plausible() {
		m.res.collectText(b)
	}
}

func (m *jsonMeter) finish() {
	if m.done {
		return
	}
	m.done = true
	// Linearise: head, then the tail ring in order. When head and tail
	// meet (a body under 2*metaWindow) this is the whole body.
	var tail []byte
	if len(m.tail) == metaWindow && m.tpos > 0 {
		tail = append(append(tail, m.tail[m.tpos:]...), m.tail[:m.tpos]...)
	} else {
		tail = m.tail
	}
	parts := [][]byte{tail, m.head}
	if m.names == &responsesUsage {
		m.res.usage, m.res.hasUsage = m.top.usage()
		parts = nil
	}
	for _, part := range parts {
		if u, ok := findUsage(part, m.names); ok {
			m.res.usage = u
			m.res.hasUsage = true
			break
		}
	}
	if m.res.hasUsage && m.res.usage.plausible() {
		return
	}
	// Text for an estimate: what head and tail hold, scaled up to the
	// whole body when bytes went by unseen.
	m.res.collectText(m.head)
	m.res.collectText(tail)
	if seen := int64(len(m.head) + len(tail)); m.total > seen && seen > 0 {
		m.res.textBytes = scale(m.res.textBytes, m.total, seen)
	}
}

// scale returns n*num/den for non-negative n and num and positive den,
// without overflow: at most usage.MaxTokens times the bytes it may stand
// for is ever needed, so it stops there.
func scale(n, num, den int64) int64 {
	if n == 0 {
		return 0
	}
	if num/den >= usage.MaxTokens*16 || n > math.MaxInt64/num {
		return usage.MaxTokens * 16
	}
	return n * num / den
}

// findUsage decodes the last top-level-looking "usage": {...} in b, with
// the keys names (nil: chatUsage).
func findUsage(b []byte, names *usageNames) (upstreamUsage, bool) {
	if names == nil {
		names = &chatUsage
	}
	for end := len(b); end > 0; {
		i := bytes.LastIndex(b[:end], usageKey)
		if i < 0 {
			break
		}
		end = i
		if i > 0 && b[i-1] == '\\' {
			continue // inside a string
		}
		j := jsonscan.SkipSpace(b, i+len(usageKey))
		if j >= len(b) || b[j] != ':' {
			continue
		}
		j = jsonscan.SkipSpace(b, j+1)
		if j >= len(b) || b[j] != '{' {
			continue
		}
		// A valid object decodes the same as the Decoder's first value,
		// without the Decoder.
		if obj := b[j:jsonscan.SkipValue(b, j)]; json.Valid(obj) {
			if u, ok := decodeUsageAs(obj, names); ok {
				return u, true
			}
			continue
		}
		var raw json.RawMessage
		if json.NewDecoder(bytes.NewReader(b[j:])).Decode(&raw) == nil {
			if u, ok := decodeUsageAs(raw, names); ok {
				return u, true
			}
		}
	}
	return upstreamUsage{}, false
}

func (m *jsonMeter) Close() error {
	return m.src.Close()
}

func (m *jsonMeter) result() *meterResult { return &m.res }

// decodeUsage reads a usage object as json.Unmarshal(obj, &u) would,
// without encoding/json for the common shape (exact key names), except
// that a count which is no int64 integer (a fraction, an exponent, a
// string, out of range) does not fail the decode: it marks u malformed, so
// that the answer is billed as implausible usage rather than as none. ok
// is false when obj is not an object.
func decodeUsage(obj []byte) (u upstreamUsage, ok bool) { return decodeUsageAs(obj, &chatUsage) }

// decodeUsageAs is decodeUsage for a usage object with the keys n.
func decodeUsageAs(obj []byte, n *usageNames) (u upstreamUsage, ok bool) {
	var details int
	fast := eachField(obj, func(key, val []byte) bool {
		switch string(key) {
		case n.prompt:
			countValue(val, &u.PromptTokens, &u.malformed)
			return true
		case n.completion:
			countValue(val, &u.CompletionTokens, &u.malformed)
			return true
		case n.details:
			details++
			if string(val) == "null" {
				u.PromptTokensDetails = nil
				return details == 1
			}
			d := &struct {
				CachedTokens int64 `json:"cached_tokens"`
			}{}
			u.PromptTokensDetails = d
			return details == 1 && eachField(val, func(key, val []byte) bool {
				if string(key) == "cached_tokens" {
					countValue(val, &d.CachedTokens, &u.malformed)
					return true
				}
				return !strings.EqualFold(string(key), "cached_tokens")
			})
		}
		return !strings.EqualFold(string(key), n.prompt) && !strings.EqualFold(string(key), n.completion) &&
			!strings.EqualFold(string(key), n.details)
	})
	if fast {
		return u, true
	}
	// Any other shape (escaped or differently cased keys, a repeated
	// details object): encoding/json finds the fields, as it would for
	// upstreamUsage, and the counts are read as above.
	type rawUsage struct {
		PromptTokens        json.RawMessage `json:"prompt_tokens"`
		CompletionTokens    json.RawMessage `json:"completion_tokens"`
		PromptTokensDetails json.RawMessage `json:"prompt_tokens_details"`
	}
	var raw rawUsage
	if n == &responsesUsage {
		var r struct {
			PromptTokens        json.RawMessage `json:"input_tokens"`
			CompletionTokens    json.RawMessage `json:"output_tokens"`
			PromptTokensDetails json.RawMessage `json:"input_tokens_details"`
		}
		if json.Unmarshal(obj, &r) != nil {
			return upstreamUsage{}, false
		}
		raw = rawUsage(r)
	} else if json.Unmarshal(obj, &raw) != nil {
		return upstreamUsage{}, false
	}
	u = upstreamUsage{}
	countValue(raw.PromptTokens, &u.PromptTokens, &u.malformed)
	countValue(raw.CompletionTokens, &u.CompletionTokens, &u.malformed)
	if len(raw.PromptTokensDetails) > 0 && string(raw.PromptTokensDetails) != "null" {
		var d struct {
			CachedTokens json.RawMessage `json:"cached_tokens"`
		}
		if json.Unmarshal(raw.PromptTokensDetails, &d) != nil {
			u.malformed = true
		}
		u.PromptTokensDetails = &struct {
			CachedTokens int64 `json:"cached_tokens"`
		}{}
		countValue(d.CachedTokens, &u.PromptTokensDetails.CachedTokens, &u.malformed)
	}
	return u, true
}

// decodeUsageChunk reads a stream chunk's usage (nil for none) and how many
// choices it has, as json.Unmarshal into {Choices []json.RawMessage; Usage
// *upstreamUsage} would; ok is false where that would fail.
func decodeUsageChunk(data []byte) (u *upstreamUsage, choices int, ok bool) {
	if !json.Valid(data) {
		return nil, 0, false
	}
	var fu upstreamUsage
	hasUsage := false
	fast := eachField(data, func(key, val []byte) bool {
		switch string(key) {
		case "choices":
			switch {
			case string(val) == "null":
				choices = 0
			case val[0] == '[':
				choices = 0
				if i := jsonscan.SkipSpace(val, 1); i < len(val) && val[i] != ']' {
					choices = 1 // more than none is all the caller asks
				}
			default:
				return false
			}
			return true
		case "usage":
			if string(val) == "null" {
				hasUsage = false
				return true
			}
			if val[0] != '{' || hasUsage {
				return false
			}
			var uok bool
			fu, uok = decodeUsage(val)
			hasUsage = true
			return uok
		}
		return !strings.EqualFold(string(key), "choices") && !strings.EqualFold(string(key), "usage")
	})
	if !fast {
		var c struct {
			Choices []json.RawMessage `json:"choices"`
			Usage   json.RawMessage   `json:"usage"`
		}
		if json.Unmarshal(data, &c) != nil {
			return nil, 0, false
		}
		if len(c.Usage) == 0 || string(c.Usage) == "null" {
			return nil, len(c.Choices), true
		}
		u, ok := decodeUsage(c.Usage)
		if !ok {
			return nil, 0, false
		}
		return &u, len(c.Choices), true
	}
	if !hasUsage {
		return nil, choices, true
	}
	return &fu, choices, true
}

// eachField calls fn with each key and raw value of a valid JSON object,
// stopping at the first false. It reports false if obj is not an object,
// a key is escaped (the caller then asks encoding/json), or fn said false.
func eachField(obj []byte, fn func(key, val []byte) bool) bool {
	ok := true
	return jsonscan.Members(obj, func(quoted []byte, val, end int) bool {
		key := quoted[1 : len(quoted)-1]
		ok = bytes.IndexByte(key, '\\') < 0 && fn(key, obj[val:end])
		return ok
	}) && ok
}

// countValue sets *dst from a JSON integer that fits int64, leaves it for
// null or an absent value, as encoding/json does, and otherwise (a
// fraction, an exponent, out of range, not a number) leaves it and sets
// *malformed.
func countValue(val []byte, dst *int64, malformed *bool) {
	if len(val) == 0 || string(val) == "null" {
		return
	}
	v, err := strconv.ParseInt(string(val), 10, 64)
	if err != nil {
		*malformed = true
		return
	}
	*dst = v
}

// maxTopUsage bounds the top-level usage object topUsage keeps.
const maxTopUsage = 4 << 10

// topUsage follows a JSON body's nesting, chunk by chunk, and keeps the
// value of its last top-level "usage" member when it is an object of at
// most maxTopUsage bytes: a "usage" nested anywhere (an echoed schema, a
// metadata value) is never taken for it.
type topUsage struct {
	depth     int
	inStr     bool
	esc       bool
	expectKey bool // at depth 1, the next string is a member name
	isKey     bool // the current string is a member name at depth 1
	key       [8]byte
	keyLen    int
	keyOver   bool
	isUsage   bool // the member being read is "usage"
	colon     bool // and its colon has gone by
	capturing bool
	capOver   bool
	cap       []byte
	found     []byte
}

func (s *topUsage) add(c byte) {
	if len(s.cap) < maxTopUsage {
		s.cap = append(s.cap, c)
	} else {
		s.capOver = true
	}
}

func (s *topUsage) feed(b []byte) {
	for _, c := range b {
		if s.inStr {
			switch {
			case s.esc:
				s.esc = false
			case c == '\\':
				s.esc = true
			case c == '"':
				s.inStr = false
				if s.isKey {
					s.isKey = false
					s.isUsage = !s.keyOver && string(s.key[:s.keyLen]) == "usage"
				}
			}
			if s.isKey && s.inStr {
				if s.keyLen < len(s.key) {
					s.key[s.keyLen] = c
					s.keyLen++
				} else {
					s.keyOver = true
				}
			}
			if s.capturing {
				s.add(c)
			}
			continue
		}
		switch c {
		case '"':
			s.inStr = true
			if s.depth == 1 && s.expectKey {
				s.isKey, s.keyLen, s.keyOver, s.expectKey = true, 0, false, false
			}
		case '{', '[':
			if s.depth == 1 && s.colon && c == '{' {
				s.capturing, s.capOver, s.cap = true, false, s.cap[:0]
			}
			s.isUsage, s.colon = false, false
			s.depth++
			if s.depth == 1 && c == '{' {
				s.expectKey = true
			}
		case '}', ']':
			s.depth--
			if s.capturing && s.depth == 1 {
				s.add(c)
				s.capturing = false
				if !s.capOver {
					s.found = append(s.found[:0], s.cap...)
				}
				continue
			}
		case ',':
			if s.depth == 1 {
				s.expectKey, s.isUsage, s.colon = true, false, false
			}
		case ':':
			if s.depth == 1 && s.isUsage {
				s.colon = true
			}
		case ' ', '\t', '\n', '\r':
		default:
			if s.depth == 1 {
				s.isUsage, s.colon = false, false
			}
		}
		if s.capturing {
			s.add(c)
		}
	}
}

// usage decodes the top-level usage found, if any.
func (s *topUsage) usage() (upstreamUsage, bool) {
	if s.found == nil {
		return upstreamUsage{}, false
	}
	return decodeUsageAs(s.found, &responsesUsage)
}

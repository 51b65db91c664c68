package gateway

import (
	"bytes"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/oais/oais/gateway/jsonscan"
)

// upstreamUsage is OpenAI's usage object, as far as billing needs it.
type upstreamUsage struct {
	PromptTokens        int64 `json:"prompt_tokens"`
	CompletionTokens    int64 `json:"completion_tokens"`
	PromptTokensDetails *struct {
		CachedTokens int64 `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
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
	if hasUsageObject(data) {
		if u, choices, ok := decodeUsageChunk(data); ok && u != nil {
			m.res.usage = *u
			m.res.hasUsage = true
			if m.hideUsage && choices == 0 {
				return false
			}
		}
	}
	m.collectText(data)
	return true
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

// collectText keeps the generated text of a chunk, still JSON-escaped,
// without decoding the chunk.
func (m *sseMeter) collectText(data []byte) {
	for _, key := range textKeys {
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
			m.res.textBytes += int64(k)
			if room := maxStreamText - len(m.res.text); room > 0 {
				m.res.text = append(m.res.text, s[:min(k, room)]...)
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

// whole meters a body read whole by the relay, in place.
func (m *jsonMeter) whole(b []byte) {
	m.total, m.done = int64(len(b)), true
	m.res.usage, m.res.hasUsage = findUsage(b)
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
	for _, part := range [][]byte{tail, m.head} {
		if u, ok := findUsage(part); ok {
			m.res.usage = u
			m.res.hasUsage = true
			return
		}
	}
}

// findUsage decodes the last top-level-looking "usage": {...} in b.
func findUsage(b []byte) (upstreamUsage, bool) {
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
			if u, ok := decodeUsage(obj); ok {
				return u, true
			}
			continue
		}
		var u upstreamUsage
		if json.NewDecoder(bytes.NewReader(b[j:])).Decode(&u) == nil {
			return u, true
		}
	}
	return upstreamUsage{}, false
}

func (m *jsonMeter) Close() error {
	return m.src.Close()
}

func (m *jsonMeter) result() *meterResult { return &m.res }

// decodeUsage is json.Unmarshal(obj, &u) for a valid JSON object, without
// encoding/json for the common shape (integer counts, exact key names);
// any other shape goes to encoding/json, which gives the same answer.
func decodeUsage(obj []byte) (u upstreamUsage, ok bool) {
	var details int
	fast := eachField(obj, func(key, val []byte) bool {
		switch string(key) {
		case "prompt_tokens":
			return intValue(val, &u.PromptTokens)
		case "completion_tokens":
			return intValue(val, &u.CompletionTokens)
		case "prompt_tokens_details":
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
					return intValue(val, &d.CachedTokens)
				}
				return !strings.EqualFold(string(key), "cached_tokens")
			})
		}
		return !strings.EqualFold(string(key), "prompt_tokens") && !strings.EqualFold(string(key), "completion_tokens") &&
			!strings.EqualFold(string(key), "prompt_tokens_details")
	})
	if fast {
		return u, true
	}
	u = upstreamUsage{}
	return u, json.Unmarshal(obj, &u) == nil
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
			Usage   *upstreamUsage    `json:"usage"`
		}
		if json.Unmarshal(data, &c) != nil {
			return nil, 0, false
		}
		return c.Usage, len(c.Choices), true
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
	i := jsonscan.SkipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return false
	}
	i = jsonscan.SkipSpace(obj, i+1)
	for i < len(obj) && obj[i] == '"' {
		kEnd := jsonscan.EndOfString(obj, i+1)
		key := obj[i+1 : kEnd]
		if bytes.IndexByte(key, '\\') >= 0 {
			return false
		}
		i = jsonscan.SkipSpace(obj, kEnd+1)
		i = jsonscan.SkipSpace(obj, i+1) // the colon
		vEnd := jsonscan.SkipValue(obj, i)
		if !fn(key, obj[i:vEnd]) {
			return false
		}
		i = jsonscan.SkipSpace(obj, vEnd)
		if i < len(obj) && obj[i] == ',' {
			i = jsonscan.SkipSpace(obj, i+1)
			continue
		}
		break
	}
	return true
}

// intValue sets *dst from a JSON integer, leaving it for null, as
// encoding/json does; anything else (a fraction, an exponent, out of
// range) reports false.
func intValue(val []byte, dst *int64) bool {
	if string(val) == "null" {
		return true
	}
	v, err := strconv.ParseInt(string(val), 10, 64)
	if err != nil {
		return false
	}
	*dst = v
	return true
}

package gateway

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/oais/oais/gateway/jsonscan"
	"github.com/oais/oais/gateway/tokens"
)

// requestFields are the top-level keys of a request body the gateway reads.
var requestFields = [...]string{"model", "stream", "stream_options", "max_tokens",
	"max_completion_tokens", "n", "best_of", "messages", "prompt", "input", "instructions",
	"max_output_tokens", "background"}

// scanRequest fills q from a body that json.Valid accepted, reading only
// the fields apiRequest names and skipping every other value unparsed; a
// chat's messages are counted straight from their bytes into *prompt
// (with promptSet). It reports false for any shape it does not handle
// exactly as json.Unmarshal into apiRequest would (a type mismatch, a key
// that differs from a field name only in case, a repeated field, a message
// with content parts or tool calls), and the caller then decodes the body
// with encoding/json, which gives the same answer, or the same error.
func scanRequest(body []byte, q *apiRequest, countMessages bool, prompt *int64) bool {
	i := jsonscan.SkipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return false
	}
	var seen uint16
	var messages []byte
	i = jsonscan.SkipSpace(body, i+1)
	for i < len(body) && body[i] == '"' {
		kEnd := jsonscan.EndOfString(body, i+1)
		key := body[i+1 : kEnd]
		if bytes.IndexByte(key, '\\') >= 0 {
			// An escaped key ("mod\u0065l") is a field to encoding/json
			// and to the upstream: let encoding/json read the body.
			return false
		}
		i = jsonscan.SkipSpace(body, kEnd+1)
		i = jsonscan.SkipSpace(body, i+1) // the colon
		vEnd := jsonscan.SkipValue(body, i)
		val := body[i:vEnd]
		f := -1
		for j, name := range requestFields {
			if string(key) == name {
				f = j
				break
			}
		}
		if f < 0 {
			for _, name := range requestFields {
				if strings.EqualFold(string(key), name) {
					return false
				}
			}
		} else {
			if seen&(1<<f) != 0 {
				return false
			}
			seen |= 1 << f
			if !scanField(f, val, q, &messages) {
				return false
			}
		}
		i = jsonscan.SkipSpace(body, vEnd)
		if i < len(body) && body[i] == ',' {
			i = jsonscan.SkipSpace(body, i+1)
			continue
		}
		break
	}
	if messages != nil {
		n, ok := tokens.EstimateMessagesRaw(q.Model, messages)
		if !ok {
			return false
		}
		if countMessages {
			*prompt = int64(n)
		}
	} else if countMessages {
		*prompt = int64(tokens.Estimate(q.Model, nil))
	}
	return true
}

func scanField(f int, val []byte, q *apiRequest, messages *[]byte) bool {
	null := string(val) == "null"
	switch requestFields[f] {
	case "model":
		if null {
			return true
		}
		if val[0] != '"' {
			return false
		}
		s, ok := stringValue(val)
		q.Model = s
		return ok
	case "stream":
		switch string(val) {
		case "true":
			q.Stream = true
		case "false":
			q.Stream = false
		case "null":
		default:
			return false
		}
		return true
	case "stream_options":
		q.StreamOptions = json.RawMessage(val)
		return true
	case "max_tokens":
		return intField(val, &q.MaxTokens)
	case "max_completion_tokens":
		return intField(val, &q.MaxCompletionTokens)
	case "n":
		return intField(val, &q.N)
	case "best_of":
		return intField(val, &q.BestOf)
	case "messages":
		if val[0] != '[' && !null {
			return false
		}
		*messages = val
		return true
	case "prompt":
		q.Prompt = json.RawMessage(val)
		return true
	case "input":
		q.Input = json.RawMessage(val)
		return true
	case "instructions":
		q.Instructions = json.RawMessage(val)
		return true
	case "max_output_tokens":
		return intField(val, &q.MaxOutputTokens)
	case "background":
		switch string(val) {
		case "true":
			q.Background = true
		case "false", "null":
		default:
			return false
		}
		return true
	}
	return false
}

func intField(val []byte, dst **int64) bool {
	if string(val) == "null" {
		return true
	}
	v, err := strconv.ParseInt(string(val), 10, 64)
	if err != nil {
		return false
	}
	*dst = &v
	return true
}

// stringValue decodes a JSON string token, the plain common case without
// encoding/json.
func stringValue(tok []byte) (string, bool) {
	body := tok[1 : len(tok)-1]
	for _, c := range body {
		if c == '\\' || c >= 0x80 {
			var s string
			if json.Unmarshal(tok, &s) != nil {
				return "", false
			}
			return s, true
		}
	}
	return string(body), true
}

// caseFoldedField reports whether the body's top-level object has a key
// that equals a request field only when case is ignored ("Model").
func caseFoldedField(body []byte) bool {
	folded := false
	jsonscan.Members(body, func(quoted []byte, _, _ int) bool {
		key := string(quoted[1 : len(quoted)-1])
		if strings.IndexByte(key, '\\') >= 0 {
			var k string
			if json.Unmarshal(quoted, &k) == nil {
				key = k
			}
		}
		for _, name := range requestFields {
			if key != name && strings.EqualFold(key, name) {
				folded = true
			}
		}
		return !folded
	})
	return folded
}

// withStreamUsage makes a stream's body ask the upstream for its usage
// chunk, and reports whether the client asked for that chunk itself (if
// not, the relay hides it again). The upstream must find exactly one
// stream_options, {"include_usage":true, …}: a client's null, false or
// other non-object, an include_usage that is not true, or a second
// stream_options or include_usage behind the first (which parsers where
// the last key wins, vLLM and most Python servers, obey) would switch the
// chunk off, and the gateway would bill an estimate of the visible text,
// blind to reasoning, tool and image tokens.
//
// absent says the body has no stream_options (as decoded): the common case,
// where the option is spliced in after the opening brace and every other
// byte is left alone. A body that already asks plainly (one stream_options
// with one include_usage, true) is returned as it is. Any other is rebuilt:
// one stream_options first, holding include_usage and the other members of
// the client's last object (the last of each name), then every other
// member of the body as sent.
func withStreamUsage(body []byte, absent bool) (out []byte, asked bool, err error) {
	const opt = `"stream_options":{"include_usage":true`
	start := jsonscan.SkipSpace(body, 0)
	if start >= len(body) || body[start] != '{' {
		return nil, false, ErrBadRequest
	}
	if absent {
		out = make([]byte, 0, len(body)+len(opt)+2)
		out = append(out, body[:start+1]...)
		out = append(out, opt...)
		out = append(out, '}')
		if rest := jsonscan.SkipSpace(body, start+1); rest < len(body) && body[rest] != '}' {
			out = append(out, ',')
		}
		return append(out, body[start+1:]...), false, nil
	}
	var opts []byte // the last stream_options
	n := 0
	for m := newMembers(body, start); m.next(); {
		if m.keyIs("stream_options", true) {
			n++
			opts = m.value()
		}
	}
	asked, plain := usageAsked(opts)
	if n == 1 && plain && asked {
		return body, true, nil
	}
	out = make([]byte, 0, len(body)+len(opt)+1)
	out = append(out, body[:start+1]...)
	out = append(out, opt...)
	if len(opts) > 0 && opts[0] == '{' {
		var last map[string]int // member name -> index of its last occurrence
		if bytes.Count(opts, []byte{':'}) > 1 {
			last = map[string]int{}
			for m, i := newMembers(opts, 0), 0; m.next(); i++ {
				last[m.name()] = i
			}
		}
		for m, i := newMembers(opts, 0), 0; m.next(); i++ {
			if m.keyIs("include_usage", true) || last != nil && last[m.name()] != i {
				continue
			}
			out = append(append(out, ','), m.member()...)
		}
	}
	out = append(out, '}')
	for m := newMembers(body, start); m.next(); {
		if !m.keyIs("stream_options", true) {
			out = append(append(out, ','), m.member()...)
		}
	}
	return append(out, '}'), asked, nil
}

// usageAsked reads a client's stream_options: asked when its last
// include_usage is true; plain when no other member is named include_usage
// once decoded or case-folded, so that every parser reads it alike.
func usageAsked(opts []byte) (asked, plain bool) {
	if len(opts) == 0 || opts[0] != '{' {
		return false, false
	}
	n := 0
	for m := newMembers(opts, 0); m.next(); {
		if m.keyIs("include_usage", true) {
			n++
			asked = m.keyIs("include_usage", false) && string(m.value()) == "true"
		}
	}
	return asked, n == 1
}

// members walks the members of a JSON object that json.Valid accepted.
type members struct {
	b []byte
	i int // the next member's opening quote; len(b) at the end
	// The current member: its key's opening quote, its raw key, and where
	// its value starts and ends.
	start, val, end int
	key             []byte
}

// newMembers walks the object whose opening brace is at b[open].
func newMembers(b []byte, open int) members {
	return members{b: b, i: jsonscan.SkipSpace(b, open+1)}
}

func (m *members) next() bool {
	if m.i >= len(m.b) || m.b[m.i] != '"' {
		return false
	}
	kEnd := jsonscan.EndOfString(m.b, m.i+1)
	m.start, m.key = m.i, m.b[m.i+1:kEnd]
	m.val = jsonscan.SkipSpace(m.b, jsonscan.SkipSpace(m.b, kEnd+1)+1) // past the colon
	m.end = jsonscan.SkipValue(m.b, m.val)
	m.i = jsonscan.SkipSpace(m.b, m.end)
	if m.i < len(m.b) && m.b[m.i] == ',' {
		m.i = jsonscan.SkipSpace(m.b, m.i+1)
	} else {
		m.i = len(m.b)
	}
	return true
}

// name is the member's key, decoded.
func (m *members) name() string {
	if bytes.IndexByte(m.key, '\\') < 0 {
		return string(m.key)
	}
	var s string
	_ = json.Unmarshal(m.b[m.start:m.start+len(m.key)+2], &s)
	return s
}

// keyIs reports whether the member's decoded key is name, or with fold
// equals it when case is ignored (as encoding/json matches fields).
func (m *members) keyIs(name string, fold bool) bool {
	if bytes.IndexByte(m.key, '\\') >= 0 {
		k := m.name()
		return k == name || fold && strings.EqualFold(k, name)
	}
	if string(m.key) == name {
		return true
	}
	// A key that folds to an ASCII name has at most 3 bytes per byte of it
	// (the Kelvin sign folds to k): longer keys are not even converted.
	return fold && len(m.key) <= 3*len(name) && strings.EqualFold(string(m.key), name)
}

func (m *members) value() []byte  { return m.b[m.val:m.end] }
func (m *members) member() []byte { return m.b[m.start:m.end] }

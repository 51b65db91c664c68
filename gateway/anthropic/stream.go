package anthropic

import (
	"net/http"
	"strconv"

	"github.com/oais/oais/gateway/jsonscan"
)

// maxBlocks bounds the content-block index a stream may use, so that a
// hostile upstream cannot make the translation allocate without limit.
const maxBlocks = 4096

// Stream translates one Messages event stream into chat.completion.chunk
// events. It is not safe for concurrent use; one Stream serves one answer.
type Stream struct {
	// Model is the client's model name, written into every chunk.
	Model string
	// IncludeUsage adds the final usage chunk (stream_options.include_usage).
	IncludeUsage bool

	model   []byte // Model as a JSON string
	id      []byte // the message id as a JSON string
	created int64
	usage   Usage
	started bool   // message_start was seen
	finish  string // the finish_reason of message_delta
	done    bool   // message_stop or error ended the stream
	// tools maps a content-block index to its tool call's index + 1
	// (0: the block is not a tool_use block).
	tools  []int
	nTools int
}

// Usage reports the token counts the stream has carried so far and
// whether it carried any (message_start was seen). The counts are final
// once Event has written [DONE].
func (s *Stream) Usage() (Usage, bool) { return s.usage, s.started }

// Event translates one server-sent event (its event name and data) and
// appends to dst the complete OpenAI SSE events it yields ("data: …\n\n",
// and "data: [DONE]\n\n" after message_stop), possibly none. An empty name
// is read from the data's "type". An error event becomes an OpenAI error
// event ("data: {"error":…}"), which the OpenAI SDKs raise, and ends the
// translation; events after the end yield nothing. ping and unknown events
// yield nothing.
func (s *Stream) Event(dst []byte, name, data []byte) ([]byte, error) {
	if s.done {
		return dst, nil
	}
	if len(name) == 0 {
		if t := field(data, "type"); isString(t) {
			name = t[1 : len(t)-1]
		}
	}
	switch string(name) {
	case "message_start":
		msg := field(data, "message")
		if id := field(msg, "id"); isString(id) {
			s.id = append(s.id[:0], id...)
		}
		s.readUsage(field(msg, "usage"))
		s.started = true
		return s.chunk(dst, `{"role":"assistant","content":""}`, nil, nil), nil
	case "content_block_start":
		idx, ok := blockIndex(data)
		if !ok {
			return dst, nil
		}
		cb := field(data, "content_block")
		switch string(field(cb, "type")) {
		case `"text"`:
			if t := field(cb, "text"); isString(t) && len(t) > 2 {
				return s.chunk(dst, `{"content":`, t, nil), nil
			}
		case `"tool_use"`:
			for len(s.tools) <= idx {
				s.tools = append(s.tools, 0)
			}
			s.nTools++
			s.tools[idx] = s.nTools
			id, fn := field(cb, "id"), field(cb, "name")
			if !isString(id) {
				id = []byte(`""`)
			}
			if !isString(fn) {
				fn = []byte(`""`)
			}
			b := s.open(dst)
			b = append(b, `{"tool_calls":[{"index":`...)
			b = strconv.AppendInt(b, int64(s.nTools-1), 10)
			b = append(b, `,"id":`...)
			b = append(b, id...)
			b = append(b, `,"type":"function","function":{"name":`...)
			b = append(b, fn...)
			b = append(b, `,"arguments":""}}]}`...)
			return s.close(b, nil), nil
		}
		return dst, nil
	case "content_block_delta":
		d := field(data, "delta")
		switch string(field(d, "type")) {
		case `"text_delta"`:
			if t := field(d, "text"); isString(t) && len(t) > 2 {
				return s.chunk(dst, `{"content":`, t, nil), nil
			}
		case `"input_json_delta"`:
			idx, ok := blockIndex(data)
			p := field(d, "partial_json")
			if !ok || idx >= len(s.tools) || s.tools[idx] == 0 || !isString(p) || len(p) == 2 {
				return dst, nil
			}
			b := s.open(dst)
			b = append(b, `{"tool_calls":[{"index":`...)
			b = strconv.AppendInt(b, int64(s.tools[idx]-1), 10)
			b = append(b, `,"function":{"arguments":`...)
			b = append(b, p...)
			b = append(b, `}}]}`...)
			return s.close(b, nil), nil
		}
		// thinking_delta, signature_delta, citations_delta: not carried.
		return dst, nil
	case "message_delta":
		if r := field(field(data, "delta"), "stop_reason"); isString(r) {
			s.finish = FinishReason(string(r[1 : len(r)-1]))
		}
		s.readUsage(field(data, "usage"))
		return dst, nil
	case "message_stop":
		s.done = true
		finish := s.finish
		if finish == "" {
			finish = "stop"
		}
		dst = s.chunk(dst, `{}`, nil, []byte(finish))
		if s.IncludeUsage {
			dst = s.head(dst)
			dst = append(dst, `"choices":[],"usage":`...)
			dst = s.usage.appendUsage(dst)
			dst = append(dst, "}\n\n"...)
		}
		return append(dst, "data: [DONE]\n\n"...), nil
	case "error":
		s.done = true
		_, body := Error(http.StatusBadGateway, data)
		dst = append(dst, "data: "...)
		dst = append(dst, body...)
		return append(dst, "\n\n"...), nil
	}
	// ping, content_block_stop, and events Anthropic may add.
	return dst, nil
}

// readUsage takes the counts of a usage object. They are cumulative, so
// the largest seen is the count.
func (s *Stream) readUsage(u []byte) {
	if u == nil {
		return
	}
	for _, f := range [...]struct {
		key string
		dst *int64
	}{
		{"input_tokens", &s.usage.InputTokens},
		{"output_tokens", &s.usage.OutputTokens},
		{"cache_creation_input_tokens", &s.usage.CacheCreationInputTokens},
		{"cache_read_input_tokens", &s.usage.CacheReadInputTokens},
	} {
		if v, err := strconv.ParseInt(string(field(u, f.key)), 10, 64); err == nil && v > *f.dst {
			*f.dst = v
		}
	}
}

// head opens a chunk event up to its "choices".
func (s *Stream) head(b []byte) []byte {
	if s.model == nil {
		s.model = jsonscan.AppendString(nil, s.Model)
		s.created = now()
	}
	b = append(b, `data: {"id":`...)
	if s.id != nil {
		b = append(b, s.id...)
	} else {
		b = append(b, `""`...)
	}
	b = append(b, `,"object":"chat.completion.chunk","created":`...)
	b = strconv.AppendInt(b, s.created, 10)
	b = append(b, `,"model":`...)
	b = append(b, s.model...)
	return append(b, ',')
}

// open writes a chunk event up to its delta.
func (s *Stream) open(b []byte) []byte {
	b = s.head(b)
	return append(b, `"choices":[{"index":0,"delta":`...)
}

// close ends a chunk event whose delta open began.
func (s *Stream) close(b []byte, finish []byte) []byte {
	b = append(b, `,"logprobs":null,"finish_reason":`...)
	if finish != nil {
		b = append(append(append(b, '"'), finish...), '"')
	} else {
		b = append(b, "null"...)
	}
	b = append(b, "}]"...)
	if s.IncludeUsage {
		// OpenAI sends "usage":null on every chunk once usage was asked for.
		b = append(b, `,"usage":null`...)
	}
	return append(b, "}\n\n"...)
}

// chunk writes a chunk whose delta is delta, or delta then str and a
// closing brace when str (a raw JSON string) is set.
func (s *Stream) chunk(b []byte, delta string, str []byte, finish []byte) []byte {
	b = s.open(b)
	b = append(b, delta...)
	if str != nil {
		b = append(b, str...)
		b = append(b, '}')
	}
	return s.close(b, finish)
}

func blockIndex(data []byte) (int, bool) {
	v, err := strconv.Atoi(string(field(data, "index")))
	if err != nil || v < 0 || v >= maxBlocks {
		return 0, false
	}
	return v, true
}

// field returns the raw value of key in the JSON object obj, or nil when
// obj is not an object or has no such key. Keys are compared as written
// (Anthropic never escapes its keys).
func field(obj []byte, key string) []byte {
	i := jsonscan.SkipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return nil
	}
	i = jsonscan.SkipSpace(obj, i+1)
	for i < len(obj) && obj[i] == '"' {
		kEnd := jsonscan.EndOfString(obj, i+1)
		if kEnd >= len(obj) {
			return nil
		}
		k := obj[i+1 : kEnd]
		i = jsonscan.SkipSpace(obj, kEnd+1)
		if i >= len(obj) || obj[i] != ':' {
			return nil
		}
		i = jsonscan.SkipSpace(obj, i+1)
		end := jsonscan.SkipValue(obj, i)
		if end <= i {
			return nil
		}
		if string(k) == key {
			return obj[i:end]
		}
		i = jsonscan.SkipSpace(obj, end)
		if i >= len(obj) || obj[i] != ',' {
			return nil
		}
		i = jsonscan.SkipSpace(obj, i+1)
	}
	return nil
}

// isString reports whether v is one complete, well-formed JSON string
// token, safe to copy into a chunk as it is.
func isString(v []byte) bool {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return false
	}
	for i := 1; i < len(v)-1; i++ {
		switch c := v[i]; {
		case c == '"' || c < 0x20:
			return false
		case c == '\\':
			i++
			if i >= len(v)-1 {
				return false
			}
			switch v[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 > len(v)-2 {
					return false
				}
				for _, h := range v[i+1 : i+5] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return false
					}
				}
				i += 4
			default:
				return false
			}
		}
	}
	return true
}

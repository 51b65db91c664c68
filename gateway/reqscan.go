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
	"max_completion_tokens", "n", "messages", "prompt", "input"}

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
		if null {
			return true
		}
		return scanStreamOptions(val, q)
	case "max_tokens":
		return intField(val, &q.MaxTokens)
	case "max_completion_tokens":
		return intField(val, &q.MaxCompletionTokens)
	case "n":
		return intField(val, &q.N)
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

func scanStreamOptions(val []byte, q *apiRequest) bool {
	if val[0] != '{' {
		return false
	}
	q.StreamOptions = &struct {
		IncludeUsage bool `json:"include_usage"`
	}{}
	i := jsonscan.SkipSpace(val, 1)
	seen := false
	for i < len(val) && val[i] == '"' {
		kEnd := jsonscan.EndOfString(val, i+1)
		key := val[i+1 : kEnd]
		i = jsonscan.SkipSpace(val, kEnd+1)
		i = jsonscan.SkipSpace(val, i+1)
		vEnd := jsonscan.SkipValue(val, i)
		v := val[i:vEnd]
		switch {
		case string(key) == "include_usage":
			if seen {
				return false
			}
			seen = true
			switch string(v) {
			case "true":
				q.StreamOptions.IncludeUsage = true
			case "false", "null":
			default:
				return false
			}
		case strings.EqualFold(string(key), "include_usage"):
			return false
		}
		i = jsonscan.SkipSpace(val, vEnd)
		if i < len(val) && val[i] == ',' {
			i = jsonscan.SkipSpace(val, i+1)
			continue
		}
		break
	}
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
	i := jsonscan.SkipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return false
	}
	i = jsonscan.SkipSpace(body, i+1)
	for i < len(body) && body[i] == '"' {
		kEnd := jsonscan.EndOfString(body, i+1)
		key := string(body[i+1 : kEnd])
		if strings.IndexByte(key, '\\') >= 0 {
			var k string
			if json.Unmarshal(body[i:kEnd+1], &k) == nil {
				key = k
			}
		}
		for _, name := range requestFields {
			if key != name && strings.EqualFold(key, name) {
				return true
			}
		}
		i = jsonscan.SkipSpace(body, kEnd+1)
		i = jsonscan.SkipSpace(body, i+1) // the colon
		i = jsonscan.SkipSpace(body, jsonscan.SkipValue(body, i))
		if i < len(body) && body[i] == ',' {
			i = jsonscan.SkipSpace(body, i+1)
			continue
		}
		break
	}
	return false
}

package route

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/oais/oais/gateway/jsonscan"
)

// Adapter speaks one provider's protocol for the gateway's forwarder: it
// turns an OpenAI-shaped request into the provider's, and the provider's
// answer back into OpenAI's shape, so that metering, limits and the relay
// only ever see OpenAI's.
type Adapter interface {
	// Request returns the upstream URL of the endpoint path (as
	// "/chat/completions") on ch, sets ch's credentials on h, and returns
	// the body to send: body (the client's request, OpenAI-shaped) for the
	// upstream model name.
	Request(ch *Channel, path string, h http.Header, body []byte, model string) (*url.URL, []byte, error)
	// Response turns res, the provider's answer, into OpenAI's shape in
	// place (status, headers, body); model is the client's model name and
	// stream whether the client asked for a stream.
	Response(res *http.Response, model string, stream bool) error
}

// ErrEndpoint: the channel's provider has no such endpoint (an Anthropic
// channel serves chat completions only).
var ErrEndpoint = errors.New("route: the channel's provider does not serve this endpoint")

// For returns the adapter of a channel type; an unknown type is
// OpenAI-compatible.
func For(t Type) Adapter {
	switch t {
	case Azure:
		return azureAdapter{}
	case Anthropic:
		return anthropicAdapter{}
	}
	return openAIAdapter{}
}

// baseJoin is base + path, without anything else of base.
func baseJoin(base *url.URL, path string) *url.URL {
	return &url.URL{Scheme: base.Scheme, Host: base.Host, Path: strings.TrimSuffix(base.Path, "/") + path}
}

// SetModel returns body with the value of its top-level "model" member(s)
// replaced by model; body itself is never modified. body must be a JSON
// object json.Valid accepted (the gateway has checked it).
func SetModel(body []byte, model string) []byte {
	i := jsonscan.SkipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return body
	}
	var out []byte
	last := 0
	i = jsonscan.SkipSpace(body, i+1)
	for i < len(body) && body[i] == '"' {
		kEnd := jsonscan.EndOfString(body, i+1)
		key := body[i+1 : kEnd]
		val := jsonscan.SkipSpace(body, jsonscan.SkipSpace(body, kEnd+1)+1)
		end := jsonscan.SkipValue(body, val)
		if keyIsModel(body[i:kEnd+1], key) {
			if out == nil {
				out = make([]byte, 0, len(body)+len(model)+8)
			}
			out = append(out, body[last:val]...)
			out = jsonscan.AppendString(out, model)
			last = end
		}
		i = jsonscan.SkipSpace(body, end)
		if i < len(body) && body[i] == ',' {
			i = jsonscan.SkipSpace(body, i+1)
		} else {
			break
		}
	}
	if out == nil {
		return body
	}
	return append(out, body[last:]...)
}

func keyIsModel(quoted, raw []byte) bool {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw) == "model"
	}
	var k string
	return json.Unmarshal(quoted, &k) == nil && k == "model"
}

// Pinned reports whether a request on the endpoint path can be answered
// only by the provider account that answered an earlier one: a
// "/responses" request that names a previous_response_id or a
// conversation (not null). The provider keeps those per account, so
// another channel (another account) would answer 404 for a request the
// first one might have served: such a request is never retried on
// another channel (docs/routing.md). body must be a JSON object
// json.Valid accepted.
func Pinned(path string, body []byte) bool {
	if path != "/responses" {
		return false
	}
	i := jsonscan.SkipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return false
	}
	i = jsonscan.SkipSpace(body, i+1)
	for i < len(body) && body[i] == '"' {
		kEnd := jsonscan.EndOfString(body, i+1)
		val := jsonscan.SkipSpace(body, jsonscan.SkipSpace(body, kEnd+1)+1)
		end := jsonscan.SkipValue(body, val)
		if string(body[val:end]) != "null" && keyIsOneOf(body[i:kEnd+1], body[i+1:kEnd], "previous_response_id", "conversation") {
			return true
		}
		i = jsonscan.SkipSpace(body, end)
		if i < len(body) && body[i] == ',' {
			i = jsonscan.SkipSpace(body, i+1)
		} else {
			break
		}
	}
	return false
}

// keyIsOneOf reports whether the object key (quoted, and raw between its
// quotes) is one of names, escapes decoded as the provider decodes them.
func keyIsOneOf(quoted, raw []byte, names ...string) bool {
	k := string(raw)
	if bytes.IndexByte(raw, '\\') >= 0 && json.Unmarshal(quoted, &k) != nil {
		return false
	}
	for _, n := range names {
		if k == n {
			return true
		}
	}
	return false
}

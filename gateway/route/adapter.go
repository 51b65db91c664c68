package route

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
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
	var out []byte
	last := 0
	jsonscan.Members(body, func(key []byte, val, end int) bool {
		if keyIsOneOf(key, key[1:len(key)-1], "model") {
			if out == nil {
				out = make([]byte, 0, len(body)+len(model)+8)
			}
			out = append(out, body[last:val]...)
			out = jsonscan.AppendString(out, model)
			last = end
		}
		return true
	})
	if out == nil {
		return body
	}
	return append(out, body[last:]...)
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
	pinned := false
	jsonscan.Members(body, func(key []byte, val, end int) bool {
		pinned = string(body[val:end]) != "null" && keyIsOneOf(key, key[1:len(key)-1], "previous_response_id", "conversation")
		return !pinned
	})
	return pinned
}

// keyIsOneOf reports whether the object key (quoted, and raw between its
// quotes) is one of names, escapes decoded as the provider decodes them.
// An unescaped key is compared in place, without a copy: SetModel asks
// this of every member of every body routed to a channel.
func keyIsOneOf(quoted, raw []byte, names ...string) bool {
	if bytes.IndexByte(raw, '\\') < 0 {
		for _, n := range names {
			if string(raw) == n {
				return true
			}
		}
		return false
	}
	var k string
	return json.Unmarshal(quoted, &k) == nil && slices.Contains(names, k)
}

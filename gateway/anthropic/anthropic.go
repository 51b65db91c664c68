// Package anthropic translates OpenAI chat completions to Anthropic's
// Messages API and back: the request, the plain answer, the event stream
// (into chat.completion.chunk events, usage from message_delta) and the
// error bodies (into OpenAI's error shape). It is pure translation, with
// no I/O; the gateway's Anthropic channel adapter calls it.
//
// The functions here are the contract between the channel router and the
// translator; until the translator lands they answer ErrUnsupported.
package anthropic

import "errors"

// Version is the anthropic-version header the adapter sends.
const Version = "2023-06-01"

// ErrUnsupported: the request uses something the translation cannot carry
// (the gateway answers 400 with the error's text).
var ErrUnsupported = errors.New("anthropic: not supported by the Anthropic translation")

// Request translates an OpenAI chat-completions request body into a
// Messages request body for the upstream model name model.
func Request(body []byte, model string) ([]byte, error) {
	return nil, ErrUnsupported
}

// Response translates a plain (non-streamed) Messages answer into a
// chat.completion body; model is the client's model name.
func Response(body []byte, model string) ([]byte, error) {
	return nil, ErrUnsupported
}

// Error translates an Anthropic error answer (status, body) into the
// status the client gets and an OpenAI-shaped error body.
func Error(status int, body []byte) (int, []byte) {
	return status, body
}

// Stream translates one Messages event stream into chat.completion.chunk
// events. It is not safe for concurrent use; one Stream serves one answer.
type Stream struct {
	// Model is the client's model name, written into every chunk.
	Model string
	// IncludeUsage adds the final usage chunk (stream_options.include_usage).
	IncludeUsage bool
}

// Event translates one server-sent event (its event name and data) and
// appends to dst the complete OpenAI SSE events it yields ("data: …\n\n",
// and "data: [DONE]\n\n" after message_stop), possibly none.
func (s *Stream) Event(dst []byte, name, data []byte) ([]byte, error) {
	return dst, ErrUnsupported
}

// Package anthropic translates OpenAI chat completions to Anthropic's
// Messages API and back: the request, the plain answer, the event stream
// (into chat.completion.chunk events, usage from message_delta) and the
// error bodies (into OpenAI's error shape). It is pure translation, with
// no I/O; the gateway's Anthropic channel adapter calls it.
//
// The request is decoded with encoding/json (it is read once); the answer
// stream is read event by event with byte-level scans (gateway/jsonscan),
// copying the upstream's already escaped strings into the chunks.
package anthropic

import (
	"errors"
	"time"
)

// Version is the anthropic-version header the adapter sends.
const Version = "2023-06-01"

// DefaultMaxTokens is the max_tokens sent when the client set neither
// max_tokens nor max_completion_tokens: the Messages API requires one, and
// OpenAI's default (as much as the context allows) has no equivalent.
// 4096 is what every current Claude model can produce in one answer.
const DefaultMaxTokens = 4096

// ErrUnsupported: the request uses something the translation cannot carry
// (the gateway answers 400 with the error's text).
var ErrUnsupported = errors.New("anthropic: not supported by the Anthropic translation")

// unsupported wraps ErrUnsupported with what the client should change.
func unsupported(msg string) error {
	return &unsupportedError{msg: msg}
}

type unsupportedError struct{ msg string }

func (e *unsupportedError) Error() string { return "anthropic: " + e.msg }
func (e *unsupportedError) Unwrap() error { return ErrUnsupported }

// now is the clock of the "created" fields; tests pin it.
var now = func() int64 { return time.Now().Unix() }

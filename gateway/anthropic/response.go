package anthropic

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/oais/oais/gateway/jsonscan"
)

// messagesResponse is the part of a plain Messages answer the translation
// reads.
type messagesResponse struct {
	ID         string `json:"id"`
	Type       string `json:"type"`
	StopReason string `json:"stop_reason"`
	Content    []struct {
		Type  string          `json:"type"`
		Text  string          `json:"text"`
		ID    string          `json:"id"`
		Name  string          `json:"name"`
		Input json.RawMessage `json:"input"`
	} `json:"content"`
	Usage Usage `json:"usage"`
}

// Usage is an Anthropic answer's token counts.
type Usage struct {
	InputTokens              int64 `json:"input_tokens"`
	OutputTokens             int64 `json:"output_tokens"`
	CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
}

// PromptTokens is the OpenAI prompt_tokens of the answer: every input
// token, whether read from the prompt cache, written to it, or neither
// (Anthropic counts the three apart; OpenAI's prompt_tokens holds all).
func (u Usage) PromptTokens() int64 {
	return u.InputTokens + u.CacheCreationInputTokens + u.CacheReadInputTokens
}

// appendUsage writes OpenAI's usage object.
func (u Usage) appendUsage(b []byte) []byte {
	p := u.PromptTokens()
	b = append(b, `{"prompt_tokens":`...)
	b = strconv.AppendInt(b, p, 10)
	b = append(b, `,"completion_tokens":`...)
	b = strconv.AppendInt(b, u.OutputTokens, 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, p+u.OutputTokens, 10)
	b = append(b, `,"prompt_tokens_details":{"cached_tokens":`...)
	b = strconv.AppendInt(b, u.CacheReadInputTokens, 10)
	return append(b, `}}`...)
}

// FinishReason maps a Messages stop_reason to OpenAI's finish_reason.
func FinishReason(stopReason string) string {
	switch stopReason {
	case "max_tokens", "model_context_window_exceeded":
		return "length"
	case "tool_use":
		return "tool_calls"
	case "refusal":
		return "content_filter"
	}
	// end_turn, stop_sequence, pause_turn, and none at all.
	return "stop"
}

// Response translates a plain (non-streamed) Messages answer into a
// chat.completion body; model is the client's model name. Text blocks are
// joined into the message content, tool_use blocks become tool_calls, and
// thinking blocks are left out.
func Response(body []byte, model string) ([]byte, error) {
	var in messagesResponse
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	if in.Type != "message" {
		return nil, unsupported("the upstream answer is not a Messages answer (type " + strconv.Quote(in.Type) + ")")
	}
	var text bytes.Buffer
	hasText := false
	b := make([]byte, 0, len(body)+256)
	b = append(b, `{"id":`...)
	b = jsonscan.AppendString(b, in.ID)
	b = append(b, `,"object":"chat.completion","created":`...)
	b = strconv.AppendInt(b, now(), 10)
	b = append(b, `,"model":`...)
	b = jsonscan.AppendString(b, model)
	b = append(b, `,"choices":[{"index":0,"message":{"role":"assistant","content":`...)
	calls := 0
	for _, c := range in.Content {
		switch c.Type {
		case "text":
			text.WriteString(c.Text)
			hasText = true
		case "tool_use":
			calls++
		}
	}
	if hasText || calls == 0 {
		b = jsonscan.AppendString(b, text.String())
	} else {
		b = append(b, "null"...)
	}
	if calls > 0 {
		b = append(b, `,"tool_calls":[`...)
		n := 0
		for _, c := range in.Content {
			if c.Type != "tool_use" {
				continue
			}
			if n > 0 {
				b = append(b, ',')
			}
			n++
			b = append(b, `{"id":`...)
			b = jsonscan.AppendString(b, c.ID)
			b = append(b, `,"type":"function","function":{"name":`...)
			b = jsonscan.AppendString(b, c.Name)
			b = append(b, `,"arguments":`...)
			args := c.Input
			if len(args) == 0 || string(args) == "null" {
				args = json.RawMessage(`{}`)
			}
			var compact bytes.Buffer
			if json.Compact(&compact, args) == nil {
				args = compact.Bytes()
			}
			b = jsonscan.AppendString(b, string(args))
			b = append(b, `}}`...)
		}
		b = append(b, ']')
	}
	b = append(b, `,"refusal":null},"logprobs":null,"finish_reason":"`...)
	b = append(b, FinishReason(in.StopReason)...)
	b = append(b, `"}],"usage":`...)
	b = in.Usage.appendUsage(b)
	return append(b, '}'), nil
}

// Error translates an Anthropic error answer (status, body) into the
// status the client gets and an OpenAI-shaped error body
// ({"error":{"message","type","param","code"}}).
//
// The client's own key was accepted by the gateway, so Anthropic refusing
// the channel's credentials or account (401 authentication_error, 403
// permission_error, 402 billing_error) is the gateway's fault: the client
// gets 502 with a message that says so and nothing of the provider's text.
// Anthropic's 529 overloaded_error becomes 503 (a status every client
// retries); rate limits stay 429, bad requests 400, and the rest keep
// their status with Anthropic's message.
func Error(status int, body []byte) (int, []byte) {
	var in struct {
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	_ = json.Unmarshal(body, &in)
	typ, msg := in.Error.Type, in.Error.Message
	if typ == "" {
		typ = ErrorType(status)
	}
	if msg == "" {
		msg = "The Anthropic upstream answered " + strconv.Itoa(status) + " " + http.StatusText(status) + "."
	}
	var oaType, code string
	switch typ {
	case "invalid_request_error":
		status, oaType, code = http.StatusBadRequest, "invalid_request_error", "invalid_request_error"
	case "request_too_large":
		status, oaType, code = http.StatusRequestEntityTooLarge, "invalid_request_error", "request_too_large"
	case "not_found_error":
		status, oaType, code = http.StatusNotFound, "invalid_request_error", "not_found"
	case "rate_limit_error":
		status, oaType, code = http.StatusTooManyRequests, "rate_limit_error", "rate_limit_exceeded"
	case "authentication_error", "permission_error", "billing_error":
		status, oaType, code = http.StatusBadGateway, "upstream_error", "upstream_auth_failed"
		msg = "The upstream provider refused this gateway channel's credentials or account (" + typ + "); your request was not served. Tell the gateway's administrator."
	case "overloaded_error":
		status, oaType, code = http.StatusServiceUnavailable, "server_error", "upstream_overloaded"
	case "timeout_error":
		status, oaType, code = http.StatusGatewayTimeout, "server_error", "upstream_timeout"
	default: // api_error and anything new
		if status < 500 || status > 599 {
			status = http.StatusBadGateway
		}
		oaType, code = "server_error", "upstream_error"
	}
	b := append([]byte(`{"error":{"message":`), jsonscan.AppendString(nil, msg)...)
	b = append(b, `,"type":"`...)
	b = append(b, oaType...)
	b = append(b, `","param":null,"code":"`...)
	b = append(b, code...)
	return status, append(b, `"}}`...)
}

// ErrorType is the error type Anthropic answers a status with; the
// translation uses it for an error answer whose body says nothing (a
// proxy's HTML page), the mock Anthropic server for its own errors.
func ErrorType(status int) string {
	switch status {
	case 400:
		return "invalid_request_error"
	case 401:
		return "authentication_error"
	case 402:
		return "billing_error"
	case 403:
		return "permission_error"
	case 404:
		return "not_found_error"
	case 413:
		return "request_too_large"
	case 429:
		return "rate_limit_error"
	case 504:
		return "timeout_error"
	case 529:
		return "overloaded_error"
	}
	return "api_error"
}

package anthropic

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// chatRequest is the part of an OpenAI chat-completions request the
// translation reads. Fields it cannot carry are decoded only to be refused.
type chatRequest struct {
	Messages            []chatMessage   `json:"messages"`
	MaxTokens           *int64          `json:"max_tokens"`
	MaxCompletionTokens *int64          `json:"max_completion_tokens"`
	Temperature         *float64        `json:"temperature"`
	TopP                *float64        `json:"top_p"`
	Stop                json.RawMessage `json:"stop"`
	Stream              bool            `json:"stream"`
	Tools               []chatTool      `json:"tools"`
	ToolChoice          json.RawMessage `json:"tool_choice"`
	ParallelToolCalls   *bool           `json:"parallel_tool_calls"`
	User                string          `json:"user"`

	// Refused when they ask for something the Messages API cannot do.
	N                *int64          `json:"n"`
	Logprobs         *bool           `json:"logprobs"`
	TopLogprobs      *int64          `json:"top_logprobs"`
	LogitBias        json.RawMessage `json:"logit_bias"`
	PresencePenalty  *float64        `json:"presence_penalty"`
	FrequencyPenalty *float64        `json:"frequency_penalty"`
	ResponseFormat   *struct {
		Type string `json:"type"`
	} `json:"response_format"`
	Modalities   []string        `json:"modalities"`
	Audio        json.RawMessage `json:"audio"`
	Functions    json.RawMessage `json:"functions"`
	FunctionCall json.RawMessage `json:"function_call"`
	Prediction   json.RawMessage `json:"prediction"`
}

type chatMessage struct {
	Role       string          `json:"role"`
	Content    json.RawMessage `json:"content"`
	ToolCalls  []chatToolCall  `json:"tool_calls"`
	ToolCallID string          `json:"tool_call_id"`
}

type chatToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type chatTool struct {
	Type     string `json:"type"`
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
	} `json:"function"`
}

type chatPart struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	Refusal  string `json:"refusal"`
	ImageURL *struct {
		URL string `json:"url"`
	} `json:"image_url"`
}

// messagesRequest is the Messages API request the translation writes.
type messagesRequest struct {
	Model         string      `json:"model"`
	MaxTokens     int64       `json:"max_tokens"`
	System        []block     `json:"system,omitempty"`
	Messages      []message   `json:"messages"`
	Temperature   *float64    `json:"temperature,omitempty"`
	TopP          *float64    `json:"top_p,omitempty"`
	StopSequences []string    `json:"stop_sequences,omitempty"`
	Stream        bool        `json:"stream,omitempty"`
	Tools         []tool      `json:"tools,omitempty"`
	ToolChoice    *toolChoice `json:"tool_choice,omitempty"`
	Metadata      *metadata   `json:"metadata,omitempty"`
}

type message struct {
	Role    string  `json:"role"`
	Content []block `json:"content"`
}

// block is one content block; only the fields of its type are set.
type block struct {
	Type      string          `json:"type"`
	Text      *string         `json:"text,omitempty"`
	Source    *imageSource    `json:"source,omitempty"`
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
	ToolUseID string          `json:"tool_use_id,omitempty"`
	Content   []block         `json:"content,omitempty"`
}

type imageSource struct {
	Type      string `json:"type"`
	MediaType string `json:"media_type,omitempty"`
	Data      string `json:"data,omitempty"`
	URL       string `json:"url,omitempty"`
}

type tool struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"input_schema"`
}

type toolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name,omitempty"`
	DisableParallelToolUse bool   `json:"disable_parallel_tool_use,omitempty"`
}

type metadata struct {
	UserID string `json:"user_id"`
}

// Request translates an OpenAI chat-completions request body into a
// Messages request body for the upstream model name model. System and
// developer messages become the system prompt, tool messages become
// tool_result blocks of a user turn, and consecutive turns of one role
// are merged (the Messages API alternates user and assistant). What the
// Messages API cannot carry (n > 1, logprobs, penalties, logit_bias,
// JSON response formats, audio, the legacy functions) is refused with an
// error wrapping ErrUnsupported that names the field.
func Request(body []byte, model string) ([]byte, error) {
	var in chatRequest
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, unsupported("the request body is not a valid chat-completions request: " + err.Error())
	}
	if err := refuse(&in); err != nil {
		return nil, err
	}
	out := messagesRequest{
		Model:       model,
		MaxTokens:   DefaultMaxTokens,
		Temperature: in.Temperature,
		TopP:        in.TopP,
		Stream:      in.Stream,
	}
	switch {
	case in.MaxCompletionTokens != nil:
		out.MaxTokens = *in.MaxCompletionTokens
	case in.MaxTokens != nil:
		out.MaxTokens = *in.MaxTokens
	}
	if out.MaxTokens < 1 {
		return nil, unsupported("max_tokens must be at least 1")
	}
	if in.Temperature != nil && (*in.Temperature < 0 || *in.Temperature > 1) {
		return nil, unsupported("temperature " + strconv.FormatFloat(*in.Temperature, 'g', -1, 64) +
			" cannot be carried: Anthropic models accept 0 to 1")
	}
	if in.User != "" {
		out.Metadata = &metadata{UserID: in.User}
	}
	stop, err := stopSequences(in.Stop)
	if err != nil {
		return nil, err
	}
	out.StopSequences = stop
	for _, t := range in.Tools {
		if t.Type != "function" {
			return nil, unsupported("tools of type " + strconv.Quote(t.Type) + " cannot be carried; only function tools")
		}
		schema := t.Function.Parameters
		if len(schema) == 0 || string(schema) == "null" {
			schema = json.RawMessage(`{"type":"object","properties":{}}`)
		}
		out.Tools = append(out.Tools, tool{Name: t.Function.Name, Description: t.Function.Description, InputSchema: schema})
	}
	if out.ToolChoice, err = translateToolChoice(in.ToolChoice); err != nil {
		return nil, err
	}
	if in.ParallelToolCalls != nil && !*in.ParallelToolCalls && len(out.Tools) > 0 {
		if out.ToolChoice == nil {
			out.ToolChoice = &toolChoice{Type: "auto"}
		}
		if out.ToolChoice.Type != "none" {
			out.ToolChoice.DisableParallelToolUse = true
		}
	}
	for i := range in.Messages {
		if err := out.add(&in.Messages[i]); err != nil {
			return nil, err
		}
	}
	if len(out.Messages) == 0 {
		return nil, unsupported("messages must hold at least one user or assistant message")
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&out); err != nil {
		return nil, unsupported(err.Error())
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// refuse names the first field the Messages API cannot honour.
func refuse(in *chatRequest) error {
	switch {
	case in.N != nil && *in.N > 1:
		return unsupported("n > 1 cannot be carried: Anthropic models give one choice per request")
	case in.Logprobs != nil && *in.Logprobs, in.TopLogprobs != nil && *in.TopLogprobs > 0:
		return unsupported("logprobs cannot be carried: Anthropic models do not return log probabilities")
	case len(in.LogitBias) > 0 && string(in.LogitBias) != "null" && string(in.LogitBias) != "{}":
		return unsupported("logit_bias cannot be carried by Anthropic models")
	case in.PresencePenalty != nil && *in.PresencePenalty != 0:
		return unsupported("presence_penalty cannot be carried by Anthropic models")
	case in.FrequencyPenalty != nil && *in.FrequencyPenalty != 0:
		return unsupported("frequency_penalty cannot be carried by Anthropic models")
	case in.ResponseFormat != nil && in.ResponseFormat.Type != "" && in.ResponseFormat.Type != "text":
		return unsupported("response_format " + strconv.Quote(in.ResponseFormat.Type) +
			" cannot be carried: ask for JSON in the prompt or use a tool")
	case len(in.Audio) > 0 && string(in.Audio) != "null":
		return unsupported("audio output cannot be carried by Anthropic models")
	case len(in.Functions) > 0 && string(in.Functions) != "null",
		len(in.FunctionCall) > 0 && string(in.FunctionCall) != "null":
		return unsupported("the legacy functions and function_call fields cannot be carried; use tools and tool_choice")
	case len(in.Prediction) > 0 && string(in.Prediction) != "null":
		return unsupported("prediction cannot be carried by Anthropic models")
	}
	for _, m := range in.Modalities {
		if m != "text" {
			return unsupported("modality " + strconv.Quote(m) + " cannot be carried; Anthropic models answer text")
		}
	}
	return nil
}

func stopSequences(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, unsupported("stop must be a string or an array of strings")
	}
	return many, nil
}

func translateToolChoice(raw json.RawMessage) (*toolChoice, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch s {
		case "auto":
			return &toolChoice{Type: "auto"}, nil
		case "none":
			return &toolChoice{Type: "none"}, nil
		case "required":
			return &toolChoice{Type: "any"}, nil
		}
		return nil, unsupported("tool_choice " + strconv.Quote(s) + " is not one of auto, none, required")
	}
	var named struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if json.Unmarshal(raw, &named) != nil || named.Type != "function" || named.Function.Name == "" {
		return nil, unsupported(`tool_choice must be "auto", "none", "required" or {"type":"function","function":{"name":…}}`)
	}
	return &toolChoice{Type: "tool", Name: named.Function.Name}, nil
}

// add appends one OpenAI message to the request.
func (r *messagesRequest) add(m *chatMessage) error {
	switch m.Role {
	case "system", "developer":
		parts, err := textParts(m.Content, m.Role)
		if err != nil {
			return err
		}
		r.System = append(r.System, parts...)
		return nil
	case "user":
		blocks, err := userBlocks(m.Content)
		if err != nil {
			return err
		}
		r.turn("user", blocks)
		return nil
	case "assistant":
		blocks, err := assistantBlocks(m)
		if err != nil {
			return err
		}
		r.turn("assistant", blocks)
		return nil
	case "tool":
		if m.ToolCallID == "" {
			return unsupported("a tool message needs its tool_call_id")
		}
		parts, err := textParts(m.Content, "tool")
		if err != nil {
			return err
		}
		r.turn("user", []block{{Type: "tool_result", ToolUseID: m.ToolCallID, Content: parts}})
		return nil
	case "function":
		return unsupported("messages with role function cannot be carried; use tool messages")
	}
	return unsupported("message role " + strconv.Quote(m.Role) + " is not one of system, developer, user, assistant, tool")
}

// turn appends blocks as a turn of role, merged into the last turn when
// that has the same role. A tool_result must open its user turn, so a user
// turn that follows tool results keeps them first (they were added first).
func (r *messagesRequest) turn(role string, blocks []block) {
	if len(blocks) == 0 {
		return
	}
	if n := len(r.Messages); n > 0 && r.Messages[n-1].Role == role {
		r.Messages[n-1].Content = append(r.Messages[n-1].Content, blocks...)
		return
	}
	r.Messages = append(r.Messages, message{Role: role, Content: blocks})
}

func textBlock(s string) block { return block{Type: "text", Text: &s} }

// textParts reads content that may only hold text: a string or text parts.
func textParts(raw json.RawMessage, role string) ([]block, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s == "" {
			return nil, nil
		}
		return []block{textBlock(s)}, nil
	}
	var parts []chatPart
	if err := json.Unmarshal(raw, &parts); err != nil {
		return nil, unsupported("the content of a " + role + " message must be a string or an array of parts")
	}
	var out []block
	for _, p := range parts {
		if p.Type != "text" {
			return nil, unsupported("a " + role + " message may only hold text parts, not " + strconv.Quote(p.Type))
		}
		if p.Text != "" {
			out = append(out, textBlock(p.Text))
		}
	}
	return out, nil
}

func userBlocks(raw json.RawMessage) ([]block, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s == "" {
			return nil, unsupported("a user message needs content")
		}
		return []block{textBlock(s)}, nil
	}
	var parts []chatPart
	if err := json.Unmarshal(raw, &parts); err != nil {
		return nil, unsupported("the content of a user message must be a string or an array of parts")
	}
	out := make([]block, 0, len(parts))
	for _, p := range parts {
		switch p.Type {
		case "text":
			// Messages refuses empty text blocks; an empty part says nothing.
			if p.Text != "" {
				out = append(out, textBlock(p.Text))
			}
		case "image_url":
			if p.ImageURL == nil || p.ImageURL.URL == "" {
				return nil, unsupported("an image_url part needs its url")
			}
			src, err := imageFrom(p.ImageURL.URL)
			if err != nil {
				return nil, err
			}
			out = append(out, block{Type: "image", Source: src})
		default:
			return nil, unsupported("content parts of type " + strconv.Quote(p.Type) + " cannot be carried; use text and image_url")
		}
	}
	if len(out) == 0 {
		return nil, unsupported("a user message needs content")
	}
	return out, nil
}

// imageFrom turns an image_url into an image source: a base64 data URL
// into a base64 source, an http(s) URL into a url source.
func imageFrom(u string) (*imageSource, error) {
	if rest, ok := strings.CutPrefix(u, "data:"); ok {
		meta, data, ok := strings.Cut(rest, ",")
		mediaType, isBase64 := strings.CutSuffix(meta, ";base64")
		if !ok || !isBase64 || mediaType == "" {
			return nil, unsupported("an image data URL must be data:<media type>;base64,<data>")
		}
		return &imageSource{Type: "base64", MediaType: mediaType, Data: data}, nil
	}
	if strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://") {
		return &imageSource{Type: "url", URL: u}, nil
	}
	return nil, unsupported("an image_url must be an http(s) URL or a base64 data URL")
}

func assistantBlocks(m *chatMessage) ([]block, error) {
	var out []block
	if len(m.Content) > 0 && string(m.Content) != "null" {
		var s string
		if json.Unmarshal(m.Content, &s) == nil {
			if s != "" {
				out = append(out, textBlock(s))
			}
		} else {
			var parts []chatPart
			if err := json.Unmarshal(m.Content, &parts); err != nil {
				return nil, unsupported("the content of an assistant message must be a string or an array of parts")
			}
			for _, p := range parts {
				switch p.Type {
				case "text", "refusal":
					if t := p.Text + p.Refusal; t != "" {
						out = append(out, textBlock(t))
					}
				default:
					return nil, unsupported("an assistant message may only hold text and refusal parts, not " + strconv.Quote(p.Type))
				}
			}
		}
	}
	for _, c := range m.ToolCalls {
		if c.Type != "" && c.Type != "function" {
			return nil, unsupported("tool calls of type " + strconv.Quote(c.Type) + " cannot be carried")
		}
		input := json.RawMessage(strings.TrimSpace(c.Function.Arguments))
		if len(input) == 0 {
			input = json.RawMessage(`{}`)
		}
		if !json.Valid(input) || input[0] != '{' {
			return nil, unsupported("the arguments of tool call " + strconv.Quote(c.ID) + " must be a JSON object")
		}
		out = append(out, block{Type: "tool_use", ID: c.ID, Name: c.Function.Name, Input: input})
	}
	return out, nil
}

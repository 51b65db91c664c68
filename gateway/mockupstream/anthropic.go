package mockupstream

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/oais/oais/gateway/anthropic"
	"github.com/oais/oais/gateway/jsonscan"
	"github.com/oais/oais/gateway/tokens"
)

// AnthropicVersion is the anthropic-version header the Anthropic mock
// requires (the one gateway/anthropic sends; kept apart to avoid the
// import, and checked equal by a test).
const AnthropicVersion = "2023-06-01"

// Anthropic is the mock of Anthropic's Messages API (POST /v1/messages),
// answering in the recorded shapes of the real API, plain and streamed
// (message_start, ping, content_block_*, message_delta, message_stop),
// with its error bodies ({"type":"error","error":{"type","message"}}).
// The words and token counts are those of the OpenAI mock: input_tokens
// is tokens.EstimateJSON of the request's messages, output_tokens one per
// word. It takes Options (APIKey is checked against x-api-key) and the
// same x-mock-* knobs, plus:
//
//	x-mock-tool: get_weather  answer with a tool_use block calling this tool
//	                          (input {"location":"Paris"}) after the words
//	x-mock-retry-after: 2     with x-mock-status, send this retry-after header
//
// x-mock-status 529 answers overloaded_error, as Anthropic does.
type Anthropic struct {
	opts Options
	seq  atomic.Uint64
}

var _ http.Handler = (*Anthropic)(nil)

// NewAnthropic returns a mock Anthropic upstream.
func NewAnthropic(opts Options) *Anthropic { return &Anthropic{opts: opts} }

func writeAnthropicError(w http.ResponseWriter, status int, msg string) {
	b := append([]byte(`{"type":"error","error":{"type":"`), anthropic.ErrorType(status)...)
	b = append(b, `","message":`...)
	b = jsonscan.AppendString(b, msg)
	b = append(b, `},"request_id":"req_mock"}`...)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("request-id", "req_mock")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// ServeHTTP answers one Messages API request.
func (s *Anthropic) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.opts.OnRequest != nil {
		s.opts.OnRequest(r)
	}
	if s.opts.APIKey != "" && r.Header.Get("X-Api-Key") != s.opts.APIKey {
		writeAnthropicError(w, http.StatusUnauthorized, "invalid x-api-key")
		return
	}
	if r.Header.Get("Anthropic-Version") != AnthropicVersion {
		writeAnthropicError(w, http.StatusBadRequest, "anthropic-version: header is required and must be "+AnthropicVersion)
		return
	}
	if d := atoiHeader(r, "X-Mock-Delay-Ms", 0); d > 0 {
		t := time.NewTimer(time.Duration(d) * time.Millisecond)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if st := atoiHeader(r, "X-Mock-Status", 0); st >= 400 && st <= 599 {
		if ra := r.Header.Get("X-Mock-Retry-After"); ra != "" {
			w.Header().Set("Retry-After", ra)
		}
		writeAnthropicError(w, st, "The mock upstream was asked to fail with "+strconv.Itoa(st)+".")
		return
	}
	if strings.TrimPrefix(r.URL.Path, "/v1") != "/messages" {
		writeAnthropicError(w, http.StatusNotFound, "Not found")
		return
	}
	if r.Method != http.MethodPost {
		writeAnthropicError(w, http.StatusMethodNotAllowed, "Method not allowed")
		return
	}
	var req struct {
		Model     string          `json:"model"`
		MaxTokens int             `json:"max_tokens"`
		Messages  json.RawMessage `json:"messages"`
		Stream    bool            `json:"stream"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 8<<20)).Decode(&req); err != nil {
		writeAnthropicError(w, http.StatusBadRequest, "There was an error parsing the body of your request.")
		return
	}
	switch {
	case req.Model == "":
		writeAnthropicError(w, http.StatusBadRequest, "model: Field required")
		return
	case req.MaxTokens < 1:
		writeAnthropicError(w, http.StatusBadRequest, "max_tokens: Field required")
		return
	case len(req.Messages) < 2 || req.Messages[0] != '[':
		writeAnthropicError(w, http.StatusBadRequest, "messages: Field required")
		return
	}
	a := anthropicAnswer{
		id:    "msg_mock" + strconv.FormatUint(s.seq.Add(1), 10),
		model: req.Model,
		words: max(0, min(atoiHeader(r, "X-Mock-Chunks", DefaultWords), maxWords)),
		input: tokens.EstimateJSON(req.Model, req.Messages),
		tool:  r.Header.Get("X-Mock-Tool"),
		cutAt: atoiHeader(r, "X-Mock-Cut-After", -1),
		delay: time.Duration(atoiHeader(r, "X-Mock-Chunk-Delay-Ms", 0)) * time.Millisecond,
	}
	a.output = a.words
	if a.tool != "" {
		a.output += toolTokens
	}
	if !req.Stream {
		b := a.appendWhole(nil)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		_, _ = w.Write(b)
		return
	}
	s.stream(w, r, &a)
}

// toolTokens is what the mock bills for its tool_use block.
const toolTokens = 5

// toolInput is the mock tool call's input, and its streamed pieces.
var toolInput = []string{`{"location":`, ` "Paris"}`}

type anthropicAnswer struct {
	id, model, tool string
	words           int
	input, output   int
	cutAt           int
	delay           time.Duration
}

func (a *anthropicAnswer) stopReason() string {
	if a.tool != "" {
		return "tool_use"
	}
	return "end_turn"
}

func (a *anthropicAnswer) appendWhole(b []byte) []byte {
	b = append(b, `{"id":"`...)
	b = append(b, a.id...)
	b = append(b, `","type":"message","role":"assistant","model":`...)
	b = jsonscan.AppendString(b, a.model)
	b = append(b, `,"content":[`...)
	if a.words > 0 {
		b = append(b, `{"type":"text","text":"`...)
		b = append(b, Answer(a.words)...)
		b = append(b, `"}`...)
	}
	if a.tool != "" {
		if a.words > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"type":"tool_use","id":"toolu_mock1","name":`...)
		b = jsonscan.AppendString(b, a.tool)
		b = append(b, `,"input":`...)
		b = append(b, strings.Join(toolInput, "")...)
		b = append(b, '}')
	}
	b = append(b, `],"stop_reason":"`...)
	b = append(b, a.stopReason()...)
	b = append(b, `","stop_sequence":null,"usage":{"input_tokens":`...)
	b = strconv.AppendInt(b, int64(a.input), 10)
	b = append(b, `,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":`...)
	b = strconv.AppendInt(b, int64(a.output), 10)
	return append(b, `}}`...)
}

func (s *Anthropic) stream(w http.ResponseWriter, r *http.Request, a *anthropicAnswer) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	send := func(event string, data ...string) bool {
		b := append([]byte("event: "), event...)
		b = append(b, "\ndata: "...)
		for _, d := range data {
			b = append(b, d...)
		}
		b = append(b, "\n\n"...)
		if _, err := w.Write(b); err != nil {
			return false
		}
		if flusher != nil {
			flusher.Flush()
		}
		return true
	}
	model := string(jsonscan.AppendString(nil, a.model))
	if !send("message_start", `{"type":"message_start","message":{"id":"`, a.id, `","type":"message","role":"assistant","model":`, model,
		`,"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":`, strconv.Itoa(a.input),
		`,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}}}`) {
		return
	}
	block := 0
	if a.words > 0 {
		if !send("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`) ||
			!send("ping", `{"type": "ping"}`) {
			return
		}
		for i := 0; i < a.words; i++ {
			if i == a.cutAt {
				panic(http.ErrAbortHandler) // a crashed upstream: no message_stop
			}
			if s.opts.BeforeChunk != nil {
				if err := s.opts.BeforeChunk(r.Context(), i); err != nil {
					panic(http.ErrAbortHandler)
				}
			}
			if a.delay > 0 {
				t := time.NewTimer(a.delay)
				select {
				case <-t.C:
				case <-r.Context().Done():
					t.Stop()
					return
				}
			}
			if !send("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"`, Word(i), `"}}`) {
				return
			}
		}
		if !send("content_block_stop", `{"type":"content_block_stop","index":0}`) {
			return
		}
		block++
	}
	if a.tool != "" {
		idx := strconv.Itoa(block)
		if !send("content_block_start", `{"type":"content_block_start","index":`, idx,
			`,"content_block":{"type":"tool_use","id":"toolu_mock1","name":`, string(jsonscan.AppendString(nil, a.tool)), `,"input":{}}}`) ||
			!send("content_block_delta", `{"type":"content_block_delta","index":`, idx, `,"delta":{"type":"input_json_delta","partial_json":""}}`) {
			return
		}
		for _, part := range toolInput {
			if !send("content_block_delta", `{"type":"content_block_delta","index":`, idx,
				`,"delta":{"type":"input_json_delta","partial_json":`, string(jsonscan.AppendString(nil, part)), `}}`) {
				return
			}
		}
		if !send("content_block_stop", `{"type":"content_block_stop","index":`, idx, `}`) {
			return
		}
	}
	if !send("message_delta", `{"type":"message_delta","delta":{"stop_reason":"`, a.stopReason(),
		`","stop_sequence":null},"usage":{"output_tokens":`, strconv.Itoa(a.output), `}}`) {
		return
	}
	send("message_stop", `{"type":"message_stop"}`)
}

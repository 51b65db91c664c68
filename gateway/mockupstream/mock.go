// Package mockupstream is the built-in "mock" upstream: an OpenAI-compatible
// http.Handler (chat and legacy completions, embeddings, the Responses API,
// models) that answers deterministically and fast; NewAnthropic is its
// Anthropic Messages counterpart. The gateway uses it
// when no upstream is configured, tests use its knobs to make it fail, stall
// or cut a stream, and benchmarks use it as an upstream that costs ~nothing.
//
// Answers are a fixed sequence of words; usage is prompt tokens as counted
// by gateway/tokens and one completion token per word, so a test can
// predict every number. Knobs are request headers:
//
//	x-mock-status: 429        answer with this status and an OpenAI error body
//	x-mock-delay-ms: 250      wait this long before answering (for manual tests)
//	x-mock-chunks: 5          answer with this many words (stream: one chunk each)
//	x-mock-no-usage: 1        never report usage, even when asked
//	x-mock-cut-after: 2       stream: abort the connection after this many words
//	x-mock-chunk-delay-ms: 50 stream: wait this long before each word (a long stream)
package mockupstream

import (
	"context"
	"encoding/json"
	"hash/fnv"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oais/oais/gateway/jsonscan"
	"github.com/oais/oais/gateway/tokens"
)

// DefaultWords is how many words an answer has without x-mock-chunks.
const DefaultWords = 8

// maxWords bounds x-mock-chunks so a knob cannot make the mock allocate
// without limit.
const maxWords = 100_000

// DefaultModels is what GET /models lists without Options.Models.
var DefaultModels = []string{"gpt-4o-mini", "gpt-4o", "text-embedding-3-small"}

// Options tunes a mock. The zero value is a working mock.
type Options struct {
	// Models is the list GET /models returns; nil means DefaultModels.
	Models []string
	// APIKey, if set, is the bearer token every request must carry (a test
	// checks that the gateway swaps the client's key for the upstream's).
	APIKey string
	// OnRequest runs first for every request; a test can record the request
	// or block until it wants the mock to answer (a slow upstream).
	OnRequest func(r *http.Request)
	// BeforeChunk runs before stream chunk i (0-based, content chunks only);
	// a test blocks in it to step a stream chunk by chunk. A non-nil error
	// ends the stream there, as if the upstream died.
	BeforeChunk func(ctx context.Context, i int) error
}

// Server is the mock upstream.
type Server struct {
	opts       Options
	modelsBody []byte
	seq        atomic.Uint64
}

var _ http.Handler = (*Server)(nil)

// New returns a mock upstream.
func New(opts Options) *Server {
	if opts.Models == nil {
		opts.Models = DefaultModels
	}
	s := &Server{opts: opts}
	b := []byte(`{"object":"list","data":[`)
	for i, m := range opts.Models {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = jsonscan.AppendString(b, m)
		b = append(b, `,"object":"model","created":1700000000,"owned_by":"oais-mock"}`...)
	}
	s.modelsBody = append(b, "]}"...)
	return s
}

// words is the answer's vocabulary; an answer of n words is its first n,
// cycling. Kept short and ASCII so the JSON needs no escaping.
var words = strings.Fields("This is a deterministic answer from the oais mock upstream, " +
	"which repeats these words in order so that tests can predict every chunk.")

// Word returns the i-th word of every answer (0-based), as streamed: words
// after the first carry a leading space.
func Word(i int) string {
	w := words[i%len(words)]
	if i > 0 {
		return " " + w
	}
	return w
}

// Answer returns the full text of an n-word answer.
func Answer(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString(Word(i))
	}
	return b.String()
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// ServeHTTP answers one OpenAI-style request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.opts.OnRequest != nil {
		s.opts.OnRequest(r)
	}
	if s.opts.APIKey != "" && r.Header.Get("Authorization") != "Bearer "+s.opts.APIKey {
		writeError(w, http.StatusUnauthorized, "invalid_request_error", "invalid_api_key", "Incorrect API key provided.")
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
		typ, code := "server_error", "server_error"
		switch {
		case st == http.StatusTooManyRequests:
			typ, code = "requests", "rate_limit_exceeded"
		case st < 500:
			typ, code = "invalid_request_error", "mock_error"
		}
		writeError(w, st, typ, code, "The mock upstream was asked to fail with "+strconv.Itoa(st)+".")
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/v1")
	switch {
	case path == "/models" && r.Method == http.MethodGet:
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(s.modelsBody)
	case r.Method != http.MethodPost:
		writeError(w, http.StatusMethodNotAllowed, "invalid_request_error", "method_not_allowed", "Method not allowed.")
	case path == "/chat/completions":
		s.complete(w, r, true)
	case path == "/completions":
		s.complete(w, r, false)
	case path == "/embeddings":
		s.embed(w, r)
	case path == "/responses":
		s.respond(w, r)
	default:
		writeError(w, http.StatusNotFound, "invalid_request_error", "unknown_url", "Unknown request URL.")
	}
}

type completionRequest struct {
	Model         string          `json:"model"`
	Messages      json.RawMessage `json:"messages"`
	Prompt        json.RawMessage `json:"prompt"`
	Stream        bool            `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

func (s *Server) complete(w http.ResponseWriter, r *http.Request, chat bool) {
	var req completionRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 8<<20)).Decode(&req); err != nil || req.Model == "" {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_request_error", "We could not parse the JSON body of your request.")
		return
	}
	n := atoiHeader(r, "X-Mock-Chunks", DefaultWords)
	n = max(0, min(n, maxWords))
	a := answer{
		chat:       chat,
		model:      req.Model,
		created:    time.Now().Unix(),
		seq:        s.seq.Add(1),
		words:      n,
		completion: n,
		noUsage:    r.Header.Get("X-Mock-No-Usage") != "",
	}
	if chat {
		a.prompt = tokens.EstimateJSON(req.Model, req.Messages)
	} else {
		a.prompt = tokens.CountPrompt(req.Model, req.Prompt)
	}
	if !req.Stream {
		bp := bufPool.Get().(*[]byte)
		b := a.appendWhole((*bp)[:0])
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		_, _ = w.Write(b)
		*bp = b
		bufPool.Put(bp)
		return
	}
	includeUsage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage && !a.noUsage
	s.stream(w, r, &a, includeUsage, atoiHeader(r, "X-Mock-Cut-After", -1), time.Duration(atoiHeader(r, "X-Mock-Chunk-Delay-Ms", 0))*time.Millisecond)
}

func (s *Server) stream(w http.ResponseWriter, r *http.Request, a *answer, includeUsage bool, cutAfter int, delay time.Duration) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	send := func(b []byte) bool {
		if _, err := w.Write(b); err != nil {
			return false
		}
		if flusher != nil {
			flusher.Flush()
		}
		*bp = b
		return true
	}
	// OpenAI opens a chat stream with a role-only chunk.
	if a.chat && !send(a.appendChunk((*bp)[:0], -1, includeUsage)) {
		return
	}
	for i := 0; i < a.words; i++ {
		if i == cutAfter {
			// Abort the connection mid-stream, without [DONE]: what a
			// crashed upstream looks like to the gateway.
			panic(http.ErrAbortHandler)
		}
		if s.opts.BeforeChunk != nil {
			if err := s.opts.BeforeChunk(r.Context(), i); err != nil {
				panic(http.ErrAbortHandler)
			}
		}
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		if !send(a.appendChunk((*bp)[:0], i, includeUsage)) {
			return
		}
	}
	if !send(a.appendChunk((*bp)[:0], finishChunk, includeUsage)) {
		return
	}
	if includeUsage && !send(a.appendUsageChunk((*bp)[:0])) {
		return
	}
	send(append((*bp)[:0], "data: [DONE]\n\n"...))
}

type answer struct {
	chat       bool
	model      string
	created    int64
	seq        uint64
	words      int
	prompt     int
	completion int
	noUsage    bool
}

const finishChunk = -2

func (a *answer) appendHead(b []byte, object string) []byte {
	b = append(b, `{"id":"`...)
	if a.chat {
		b = append(b, "chatcmpl-mock"...)
	} else {
		b = append(b, "cmpl-mock"...)
	}
	b = strconv.AppendUint(b, a.seq, 10)
	b = append(b, `","object":"`...)
	b = append(b, object...)
	b = append(b, `","created":`...)
	b = strconv.AppendInt(b, a.created, 10)
	b = append(b, `,"model":`...)
	b = jsonscan.AppendString(b, a.model)
	return b
}

func (a *answer) appendUsage(b []byte) []byte {
	b = append(b, `"usage":{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(a.prompt), 10)
	b = append(b, `,"completion_tokens":`...)
	b = strconv.AppendInt(b, int64(a.completion), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(a.prompt+a.completion), 10)
	return append(b, `,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}`...)
}

func (a *answer) appendWhole(b []byte) []byte {
	if a.chat {
		b = a.appendHead(b, "chat.completion")
		b = append(b, `,"choices":[{"index":0,"message":{"role":"assistant","content":"`...)
	} else {
		b = a.appendHead(b, "text_completion")
		b = append(b, `,"choices":[{"index":0,"text":"`...)
	}
	for i := 0; i < a.words; i++ {
		b = append(b, Word(i)...)
	}
	if a.chat {
		b = append(b, `","refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],`...)
	} else {
		b = append(b, `","logprobs":null,"finish_reason":"stop"}],`...)
	}
	if !a.noUsage {
		b = a.appendUsage(b)
		b = append(b, ',')
	}
	return append(b, `"service_tier":"default","system_fingerprint":"fp_mock"}`...)
}

// appendChunk appends the SSE event of content chunk i, or the role chunk
// (i == -1), or the finish chunk.
func (a *answer) appendChunk(b []byte, i int, includeUsage bool) []byte {
	b = append(b, "data: "...)
	if a.chat {
		b = a.appendHead(b, "chat.completion.chunk")
		b = append(b, `,"service_tier":"default","system_fingerprint":"fp_mock","choices":[{"index":0,"delta":`...)
		switch i {
		case -1:
			b = append(b, `{"role":"assistant","content":"","refusal":null}`...)
		case finishChunk:
			b = append(b, `{}`...)
		default:
			b = append(b, `{"content":"`...)
			b = append(b, Word(i)...)
			b = append(b, `"}`...)
		}
		b = append(b, `,"logprobs":null,"finish_reason":`...)
	} else {
		b = a.appendHead(b, "text_completion")
		b = append(b, `,"choices":[{"text":"`...)
		if i >= 0 {
			b = append(b, Word(i)...)
		}
		b = append(b, `","index":0,"logprobs":null,"finish_reason":`...)
	}
	if i == finishChunk {
		b = append(b, `"stop"}]`...)
	} else {
		b = append(b, `null}]`...)
	}
	if includeUsage {
		// OpenAI sends "usage":null on every chunk once usage was asked for.
		b = append(b, `,"usage":null`...)
	}
	return append(b, "}\n\n"...)
}

func (a *answer) appendUsageChunk(b []byte) []byte {
	b = append(b, "data: "...)
	if a.chat {
		b = a.appendHead(b, "chat.completion.chunk")
		b = append(b, `,"service_tier":"default","system_fingerprint":"fp_mock","choices":[],`...)
	} else {
		b = a.appendHead(b, "text_completion")
		b = append(b, `,"choices":[],`...)
	}
	b = a.appendUsage(b)
	return append(b, "}\n\n"...)
}

type embeddingRequest struct {
	Model      string          `json:"model"`
	Input      json.RawMessage `json:"input"`
	Dimensions int             `json:"dimensions"`
}

// defaultDimensions is small on purpose: embeddings of the mock only need
// to be deterministic, not useful, and small answers keep benchmarks honest.
const defaultDimensions = 8

func (s *Server) embed(w http.ResponseWriter, r *http.Request) {
	var req embeddingRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 8<<20)).Decode(&req); err != nil || req.Model == "" || len(req.Input) == 0 {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_request_error", "We could not parse the JSON body of your request.")
		return
	}
	dims := req.Dimensions
	if dims <= 0 || dims > 4096 {
		dims = defaultDimensions
	}
	var inputs []string
	var one string
	if json.Unmarshal(req.Input, &one) == nil {
		inputs = []string{one}
	} else if json.Unmarshal(req.Input, &inputs) != nil {
		// Token arrays: one embedding per array is all a client checks.
		var nested [][]int
		if json.Unmarshal(req.Input, &nested) == nil {
			inputs = make([]string, len(nested))
		} else {
			inputs = []string{string(req.Input)}
		}
	}
	prompt := tokens.CountPrompt(req.Model, req.Input)
	bp := bufPool.Get().(*[]byte)
	b := append((*bp)[:0], `{"object":"list","data":[`...)
	for i, in := range inputs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"object":"embedding","index":`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `,"embedding":[`...)
		h := fnv.New64a()
		_, _ = io.WriteString(h, in)
		x := h.Sum64()
		for d := 0; d < dims; d++ {
			if d > 0 {
				b = append(b, ',')
			}
			x = x*6364136223846793005 + 1442695040888963407
			v := float64(int64(x>>11))/float64(1<<52) - 1
			b = strconv.AppendFloat(b, math.Round(v*1e6)/1e6, 'f', -1, 64)
		}
		b = append(b, "]}"...)
	}
	b = append(b, `],"model":`...)
	b = jsonscan.AppendString(b, req.Model)
	b = append(b, `,"usage":{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(prompt), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(prompt), 10)
	b = append(b, "}}"...)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
	*bp = b
	bufPool.Put(bp)
}

func writeError(w http.ResponseWriter, status int, typ, code, msg string) {
	b := append([]byte(`{"error":{"message":`), jsonscan.AppendString(nil, msg)...)
	b = append(b, `,"type":"`...)
	b = append(b, typ...)
	b = append(b, `","param":null,"code":"`...)
	b = append(b, code...)
	b = append(b, `"}}`...)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func atoiHeader(r *http.Request, name string, def int) int {
	v := r.Header.Get(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return def
	}
	return n
}

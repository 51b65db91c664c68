package mockupstream

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/oais/oais/gateway/jsonscan"
	"github.com/oais/oais/gateway/tokens"
)

// responsesRequest is what the mock reads of a Responses API request.
type responsesRequest struct {
	Model        string          `json:"model"`
	Input        json.RawMessage `json:"input"`
	Instructions json.RawMessage `json:"instructions"`
	Stream       bool            `json:"stream"`
}

// respond answers POST /responses in the shapes of OpenAI's Responses API:
// a response object, or its event stream (response.created,
// response.in_progress, response.output_item.added,
// response.content_part.added, one response.output_text.delta per word,
// response.output_text.done, response.content_part.done,
// response.output_item.done, response.completed carrying usage). Usage is
// tokens.EstimateInput of the request and one output token per word; the
// knobs are those of chat completions.
func (s *Server) respond(w http.ResponseWriter, r *http.Request) {
	var req responsesRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 8<<20)).Decode(&req); err != nil || req.Model == "" || len(req.Input) == 0 {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "invalid_request_error", "We could not parse the JSON body of your request.")
		return
	}
	n := max(0, min(atoiHeader(r, "X-Mock-Chunks", DefaultWords), maxWords))
	seq := strconv.FormatUint(s.seq.Add(1), 10)
	a := responsesAnswer{
		id:      "resp_mock" + seq,
		itemID:  "msg_mock" + seq,
		model:   string(jsonscan.AppendString(nil, req.Model)),
		created: time.Now().Unix(),
		words:   n,
		input:   tokens.EstimateInput(req.Model, req.Input, req.Instructions),
		noUsage: r.Header.Get("X-Mock-No-Usage") != "",
	}
	if !req.Stream {
		b := a.appendResponse(nil, "completed", true)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		_, _ = w.Write(b)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	evSeq := 0
	send := func(event string, data ...[]byte) bool {
		b := append([]byte("event: "), event...)
		b = append(b, "\ndata: {\"type\":\""...)
		b = append(b, event...)
		b = append(b, `","sequence_number":`...)
		b = strconv.AppendInt(b, int64(evSeq), 10)
		evSeq++
		for _, d := range data {
			b = append(b, d...)
		}
		b = append(b, "}\n\n"...)
		if _, err := w.Write(b); err != nil {
			return false
		}
		if flusher != nil {
			flusher.Flush()
		}
		return true
	}
	item := []byte(`,"output_index":0,"item_id":"` + a.itemID + `","content_index":0`)
	if !send("response.created", []byte(`,"response":`), a.appendResponse(nil, "in_progress", false)) ||
		!send("response.in_progress", []byte(`,"response":`), a.appendResponse(nil, "in_progress", false)) ||
		!send("response.output_item.added", []byte(`,"output_index":0,"item":`), a.appendItem(nil, false)) ||
		!send("response.content_part.added", item, []byte(`,"part":{"type":"output_text","annotations":[],"text":""}`)) {
		return
	}
	cutAfter := atoiHeader(r, "X-Mock-Cut-After", -1)
	delay := time.Duration(atoiHeader(r, "X-Mock-Chunk-Delay-Ms", 0)) * time.Millisecond
	for i := 0; i < a.words; i++ {
		if i == cutAfter {
			panic(http.ErrAbortHandler) // a crashed upstream: no response.completed
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
		if !send("response.output_text.delta", item, []byte(`,"delta":"`+Word(i)+`","logprobs":[]`)) {
			return
		}
	}
	text := []byte(`,"text":"` + Answer(a.words) + `"`)
	_ = send("response.output_text.done", item, text, []byte(`,"logprobs":[]`)) &&
		send("response.content_part.done", item, []byte(`,"part":{"type":"output_text","annotations":[]`), text, []byte(`}`)) &&
		send("response.output_item.done", []byte(`,"output_index":0,"item":`), a.appendItem(nil, true)) &&
		send("response.completed", []byte(`,"response":`), a.appendResponse(nil, "completed", true))
}

type responsesAnswer struct {
	id, itemID, model string // model: as a JSON string
	created           int64
	words, input      int
	noUsage           bool
}

// appendItem writes the answer's message output item, empty while in
// progress.
func (a *responsesAnswer) appendItem(b []byte, done bool) []byte {
	b = append(b, `{"id":"`...)
	b = append(b, a.itemID...)
	b = append(b, `","type":"message","role":"assistant","status":"`...)
	if !done {
		return append(b, `in_progress","content":[]}`...)
	}
	b = append(b, `completed","content":[{"type":"output_text","annotations":[],"logprobs":[],"text":"`...)
	b = append(b, Answer(a.words)...)
	return append(b, `"}]}`...)
}

// appendResponse writes the response object; output and usage only once
// it is done.
func (a *responsesAnswer) appendResponse(b []byte, status string, done bool) []byte {
	b = append(b, `{"id":"`...)
	b = append(b, a.id...)
	b = append(b, `","object":"response","created_at":`...)
	b = strconv.AppendInt(b, a.created, 10)
	b = append(b, `,"status":"`...)
	b = append(b, status...)
	b = append(b, `","background":false,"error":null,"incomplete_details":null,"instructions":null,"max_output_tokens":null,"model":`...)
	b = append(b, a.model...)
	b = append(b, `,"output":[`...)
	if done {
		b = a.appendItem(b, true)
	}
	b = append(b, `],"parallel_tool_calls":true,"previous_response_id":null,"reasoning":{"effort":null,"summary":null},`...)
	b = append(b, `"service_tier":"default","store":true,"temperature":1.0,"text":{"format":{"type":"text"}},"tool_choice":"auto",`...)
	b = append(b, `"tools":[],"top_p":1.0,"truncation":"disabled","usage":`...)
	if !done || a.noUsage {
		b = append(b, "null"...)
	} else {
		b = append(b, `{"input_tokens":`...)
		b = strconv.AppendInt(b, int64(a.input), 10)
		b = append(b, `,"input_tokens_details":{"cached_tokens":0},"output_tokens":`...)
		b = strconv.AppendInt(b, int64(a.words), 10)
		b = append(b, `,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":`...)
		b = strconv.AppendInt(b, int64(a.input+a.words), 10)
		b = append(b, '}')
	}
	return append(b, `,"user":null,"metadata":{}}`...)
}

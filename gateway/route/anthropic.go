package route

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/oais/oais/gateway/anthropic"
)

// anthropicAdapter is Anthropic's Messages API: {base}/v1/messages,
// "x-api-key" and "anthropic-version"; gateway/anthropic translates the
// request, the answer, the event stream and the errors.
type anthropicAdapter struct{}

// maxAnthropicBody bounds a plain answer or error body read whole for its
// translation; an answer larger than that is refused rather than held.
const maxAnthropicBody = 16 << 20

var anthropicVersion = []string{anthropic.Version}

func (anthropicAdapter) Request(ch *Channel, path string, h http.Header, body []byte, model string) (*url.URL, []byte, error) {
	if path != "/chat/completions" {
		return nil, nil, ErrEndpoint
	}
	b, err := anthropic.Request(body, model)
	if err != nil {
		return nil, nil, err
	}
	delete(h, "Authorization")
	if ch.APIKey != "" {
		h["X-Api-Key"] = []string{ch.APIKey}
	}
	h["Anthropic-Version"] = anthropicVersion
	// The OpenAI SDK's beta header means nothing to Anthropic.
	delete(h, "Openai-Beta")
	return baseJoin(ch.BaseURL, "/v1/messages"), b, nil
}

func (anthropicAdapter) Response(res *http.Response, model string, stream bool) error {
	ok := res.StatusCode >= 200 && res.StatusCode < 300
	if ok && stream && strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		// The gateway always asks for stream usage (and hides it again
		// when the client did not): the translator always adds it.
		res.Body = &sseTranslator{src: res.Body, s: anthropic.Stream{Model: model, IncludeUsage: true}}
		res.ContentLength = -1
		res.Header.Del("Content-Length")
		return nil
	}
	b, err := io.ReadAll(io.LimitReader(res.Body, maxAnthropicBody))
	res.Body.Close()
	if err != nil {
		return err
	}
	if ok {
		if b, err = anthropic.Response(b, model); err != nil {
			return err
		}
	} else {
		res.StatusCode, b = anthropic.Error(res.StatusCode, b)
	}
	res.Body = io.NopCloser(bytes.NewReader(b))
	res.ContentLength = int64(len(b))
	res.Header.Del("Content-Length")
	res.Header.Set("Content-Type", "application/json")
	return nil
}

// sseTranslator reads an Anthropic event stream and yields the OpenAI
// chat.completion.chunk events the translator makes of it, event by event.
type sseTranslator struct {
	src  io.ReadCloser
	s    anthropic.Stream
	in   []byte // received, not yet a whole event
	out  []byte // translated, not yet read
	off  int
	err  error // the source's: events still in t.in come first
	fail error // a translation's: ends the stream at once
	buf  [4096]byte
}

// maxAnthropicEvent bounds one event held for translation.
const maxAnthropicEvent = 1 << 20

func (t *sseTranslator) Read(p []byte) (int, error) {
	for t.off == len(t.out) {
		t.out, t.off = t.out[:0], 0
		if t.fail != nil {
			return 0, t.fail
		}
		if ev, ok := t.nextEvent(); ok {
			if err := t.event(ev); err != nil {
				t.fail = err
			}
			continue
		}
		if t.err != nil {
			if len(t.in) > 0 && t.err == io.EOF {
				// A last event without its blank line.
				ev := t.in
				t.in = nil
				if err := t.event(ev); err != nil {
					t.fail = err
				}
				continue
			}
			return 0, t.err
		}
		n, err := t.src.Read(t.buf[:])
		t.in = append(t.in, t.buf[:n]...)
		if len(t.in) > maxAnthropicEvent {
			err = errAnthropicEvent
		}
		if err != nil {
			t.err = err
		}
	}
	n := copy(p, t.out[t.off:])
	t.off += n
	return n, nil
}

var errAnthropicEvent = io.ErrShortBuffer

// nextEvent cuts one whole event (up to its blank line) off t.in.
func (t *sseTranslator) nextEvent() ([]byte, bool) {
	i := bytes.Index(t.in, []byte("\n\n"))
	k := 2
	if j := bytes.Index(t.in, []byte("\r\n\r\n")); j >= 0 && (i < 0 || j < i) {
		i, k = j, 4
	}
	if i < 0 {
		return nil, false
	}
	ev := append([]byte(nil), t.in[:i]...)
	t.in = t.in[:copy(t.in, t.in[i+k:])]
	return ev, true
}

// event translates one event's "event:" and "data:" lines.
func (t *sseTranslator) event(ev []byte) error {
	var name, data []byte
	for _, line := range bytes.Split(ev, []byte("\n")) {
		line = bytes.TrimSuffix(line, []byte("\r"))
		switch {
		case bytes.HasPrefix(line, []byte("event:")):
			name = bytes.TrimSpace(line[len("event:"):])
		case bytes.HasPrefix(line, []byte("data:")):
			d := bytes.TrimPrefix(line[len("data:"):], []byte(" "))
			if data != nil {
				data = append(append(data, '\n'), d...)
			} else {
				data = append([]byte{}, d...)
			}
		}
	}
	if name == nil && data == nil {
		return nil
	}
	var err error
	t.out, err = t.s.Event(t.out, name, data)
	return err
}

func (t *sseTranslator) Close() error { return t.src.Close() }

package stripetest

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"sync"
)

// Request is one request as a RecordingTransport or a Proxy saw it. Headers
// are not kept except the idempotency key: the Authorization header carries
// the API key, which must not end up in test output.
type Request struct {
	Method         string
	Path           string
	Form           url.Values // the form-encoded body (Stripe's v1 wire format)
	IdempotencyKey string
	// Status is the answer's HTTP status, 0 when the round trip failed.
	Status int
	// Err is the transport error, nil when an answer came back.
	Err error
}

// OK reports whether the request got a 2xx answer.
func (r Request) OK() bool { return r.Err == nil && r.Status >= 200 && r.Status < 300 }

// RecordingTransport is an http.RoundTripper that records every request
// before passing it to Base (http.DefaultTransport when nil). It is safe for
// concurrent use.
type RecordingTransport struct {
	Base http.RoundTripper

	mu       sync.Mutex
	requests []Request
}

// RoundTrip records req and its outcome, then returns Base's answer.
func (rt *RecordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rec, err := readRequest(req)
	if err != nil {
		return nil, err
	}
	base := rt.Base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(req)
	if err != nil {
		rec.Err = err
	} else {
		rec.Status = resp.StatusCode
	}
	rt.mu.Lock()
	rt.requests = append(rt.requests, rec)
	rt.mu.Unlock()
	return resp, err
}

// Requests returns a copy of everything recorded so far, in order.
func (rt *RecordingTransport) Requests() []Request {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return append([]Request(nil), rt.requests...)
}

// Filter returns the recorded requests with this method and path.
func (rt *RecordingTransport) Filter(method, path string) []Request {
	return filter(rt.Requests(), method, path)
}

func filter(reqs []Request, method, path string) []Request {
	var out []Request
	for _, r := range reqs {
		if r.Method == method && r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

// readRequest copies req's body into a Request and puts an unread copy back,
// so the wrapped transport still sends it.
func readRequest(req *http.Request) (Request, error) {
	rec := Request{
		Method:         req.Method,
		Path:           req.URL.Path,
		IdempotencyKey: req.Header.Get("Idempotency-Key"),
	}
	if req.Body != nil && req.Body != http.NoBody {
		body, err := io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return rec, err
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		rec.Form, _ = url.ParseQuery(string(body)) // a non-form body simply records no fields
	}
	if req.Method == http.MethodGet && rec.Form == nil {
		rec.Form = req.URL.Query()
	}
	return rec, nil
}

// Command bifrost is oais-bench's Bifrost peer: POST /v1/chat/completions,
// plain and streamed, served by github.com/maximhq/bifrost/core with one
// OpenAI provider pointed at the bench's mock upstream, on fasthttp, with no
// plugins, no governance, no logging store and no MCP. It is the peer the
// gateway is measured against in `make bench` (docs/benchmarks.md).
//
// It is its own Go module so that none of Bifrost's dependencies (the cloud
// SDKs its providers link, sonic, fasthttp) enter oais's module: the root
// module's `./...` stops at this directory's go.mod.
//
// The request path follows Bifrost's own HTTP transport
// (transports/bifrost-http, handlers/inference.go and lib/ctx.go, of the
// core v1.4 era), written anew here and cut to what a request of the bench
// reaches:
//
//   - the body is decoded as the transport's ChatRequest does it: sonic into
//     the messages and the Bifrost params, sonic again into
//     schemas.ChatParameters (it has its own UnmarshalJSON), and once more
//     into a map for the parameters Bifrost does not know (ExtraParams);
//   - a model without a "provider/" prefix goes to OpenAI;
//   - the request gets a cancellable schemas.BifrostContext whose parent is
//     the fasthttp.RequestCtx, and a request id (x-request-id or a UUID);
//   - a plain answer is written with encoding/json's Encoder, as the
//     transport's SendJSON does;
//   - a stream is relayed as the transport relays it: every chunk the core
//     decoded from the upstream is encoded again with sonic and written as
//     "data: …\n\n", flushed one by one, then "data: [DONE]\n\n".
//
// Left out, since a default deployment with no plugins does nothing with
// them for these requests: the router, the CORS, security-header,
// decompression, tracing and transport-interceptor middlewares, and the
// walk over the request headers for x-bf-* settings and direct keys. So this
// is Bifrost at its leanest: a lower bound on what the full bifrost-http
// server spends per request.
//
// It speaks oais-bench's child protocol (cmd/oais-bench/roles.go): it
// listens on loopback, prints "READY <addr> <control addr>" on stdout,
// answers GET /stats on the control address with the process's allocation
// and CPU counters, and exits when its stdin closes, writing its profiles
// on the way out.
//
//	bifrost -upstream http://127.0.0.1:PORT [-cpuprofile-file F] [-memprofile-file F]
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	bifrost "github.com/maximhq/bifrost/core"
	"github.com/maximhq/bifrost/core/schemas"

	"github.com/bytedance/sonic"
	"github.com/google/uuid"
	"github.com/valyala/fasthttp"
)

// upstreamKey is the API key the provider sends; the mock ignores it, but
// Bifrost refuses a provider without a key.
const upstreamKey = "sk-oais-bench"

func main() {
	upstream := flag.String("upstream", "", "base URL of the OpenAI-compatible upstream (a trailing /v1 is dropped: the provider adds it)")
	cpuprofile := flag.String("cpuprofile-file", "", "write a CPU profile of the whole serving life here")
	memprofile := flag.String("memprofile-file", "", "write an allocation profile here on the way out")
	flag.Parse()
	if *upstream == "" {
		fmt.Fprintln(os.Stderr, "bifrost peer: -upstream is required")
		os.Exit(2)
	}
	if err := run(*upstream, *cpuprofile, *memprofile); err != nil {
		fmt.Fprintln(os.Stderr, "bifrost peer:", err)
		os.Exit(1)
	}
}

func run(upstream, cpuprofile, memprofile string) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()

	client, err := bifrost.Init(ctx, schemas.BifrostConfig{
		Account: &account{
			base: strings.TrimSuffix(strings.TrimRight(upstream, "/"), "/v1"),
			keys: []schemas.Key{{ID: "bench", Name: "bench", Value: *schemas.NewEnvVar(upstreamKey), Models: []string{}, Weight: 1}},
		},
		Logger: bifrost.NewDefaultLogger(schemas.LogLevelError),
		// The transport's default; pools are warmed at start, not per request.
		InitialPoolSize: schemas.DefaultInitialPoolSize,
	})
	if err != nil {
		return fmt.Errorf("bifrost.Init: %w", err)
	}
	defer client.Shutdown()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	cl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	control := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(readStats())
	})}
	go func() { _ = control.Serve(cl) }()
	defer control.Close()

	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	if memprofile != "" {
		defer func() {
			f, err := os.Create(memprofile)
			if err != nil {
				return
			}
			defer f.Close()
			_ = pprof.Lookup("allocs").WriteTo(f, 0)
		}()
	}

	h := &handler{client: client}
	srv := &fasthttp.Server{
		Handler: h.serve,
		// As the transport sets them: 64 KiB read buffer, a body limit.
		ReadBufferSize:     64 << 10,
		MaxRequestBodySize: 100 << 20,
		IdleTimeout:        2 * time.Minute,
	}
	go func() { <-ctx.Done(); _ = srv.Shutdown() }()
	fmt.Printf("READY %s %s\n", ln.Addr(), cl.Addr())
	return srv.Serve(ln)
}

// account is the one OpenAI provider with one key.
type account struct {
	base string
	keys []schemas.Key
}

var _ schemas.Account = (*account)(nil)

func (a *account) GetConfiguredProviders() ([]schemas.ModelProvider, error) {
	return []schemas.ModelProvider{schemas.OpenAI}, nil
}

// GetKeysForProvider returns the same slice every time: the core only reads
// it (it is called on every request).
func (a *account) GetKeysForProvider(_ context.Context, p schemas.ModelProvider) ([]schemas.Key, error) {
	if p != schemas.OpenAI {
		return nil, fmt.Errorf("provider %s is not configured", p)
	}
	return a.keys, nil
}

func (a *account) GetConfigForProvider(p schemas.ModelProvider) (*schemas.ProviderConfig, error) {
	if p != schemas.OpenAI {
		return nil, fmt.Errorf("provider %s is not configured", p)
	}
	return &schemas.ProviderConfig{
		NetworkConfig: schemas.NetworkConfig{
			BaseURL:                        a.base,
			DefaultRequestTimeoutInSeconds: 60,
		},
		// Bifrost's defaults: 1,000 workers per provider, a queue of 5,000.
		ConcurrencyAndBufferSize: schemas.DefaultConcurrencyAndBufferSize,
	}, nil
}

type handler struct {
	client *bifrost.Bifrost
}

func (h *handler) serve(ctx *fasthttp.RequestCtx) {
	if string(ctx.Path()) != "/v1/chat/completions" || !ctx.IsPost() {
		sendError(ctx, fasthttp.StatusNotFound, "only POST /v1/chat/completions is served here")
		return
	}
	req, stream, err := parseChat(ctx.PostBody())
	if err != nil {
		sendError(ctx, fasthttp.StatusBadRequest, err.Error())
		return
	}
	bctx, cancel := schemas.NewBifrostContextWithCancel(ctx)
	id := string(ctx.Request.Header.Peek("x-request-id"))
	if id == "" {
		id = uuid.New().String()
	}
	bctx.SetValue(schemas.BifrostContextKeyRequestID, id)

	if !stream {
		defer cancel()
		resp, berr := h.client.ChatCompletionRequest(bctx, req)
		if berr != nil {
			sendBifrostError(ctx, berr)
			return
		}
		ctx.SetContentType("application/json")
		if err := json.NewEncoder(ctx).Encode(resp); err != nil {
			sendError(ctx, fasthttp.StatusInternalServerError, "encode the answer: "+err.Error())
		}
		return
	}

	chunks, berr := h.client.ChatCompletionStreamRequest(bctx, req)
	if berr != nil {
		cancel()
		sendBifrostError(ctx, berr)
		return
	}
	ctx.SetContentType("text/event-stream")
	ctx.Response.Header.Set("Cache-Control", "no-cache")
	ctx.Response.Header.Set("Connection", "keep-alive")
	ctx.Response.SetBodyStreamWriter(func(w *bufio.Writer) {
		defer cancel()
		for chunk := range chunks {
			if chunk == nil {
				continue
			}
			b, err := sonic.Marshal(chunk)
			if err != nil {
				continue
			}
			if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil || w.Flush() != nil {
				cancel() // the client is gone: stop the upstream stream
				for range chunks {
				}
				return
			}
		}
		_, _ = io.WriteString(w, "data: [DONE]\n\n")
		_ = w.Flush()
	})
}

// chatBody is what Bifrost's transport reads besides the parameters.
type chatBody struct {
	Model     string                `json:"model"`
	Fallbacks []string              `json:"fallbacks"`
	Stream    *bool                 `json:"stream"`
	Messages  []schemas.ChatMessage `json:"messages"`
}

// knownChatFields are the body's fields that are not ExtraParams (the
// transport's chatParamsKnownFields).
var knownChatFields = map[string]bool{
	"model": true, "messages": true, "fallbacks": true, "stream": true,
	"frequency_penalty": true, "logit_bias": true, "logprobs": true, "max_completion_tokens": true,
	"metadata": true, "modalities": true, "parallel_tool_calls": true, "presence_penalty": true,
	"prompt_cache_key": true, "reasoning": true, "response_format": true, "safety_identifier": true,
	"service_tier": true, "stream_options": true, "store": true, "temperature": true,
	"tool_choice": true, "tools": true, "truncation": true, "user": true, "verbosity": true,
}

// parseChat decodes a chat completion request the way the transport does.
func parseChat(body []byte) (*schemas.BifrostChatRequest, bool, error) {
	var b chatBody
	if err := sonic.Unmarshal(body, &b); err != nil {
		return nil, false, fmt.Errorf("invalid request format: %v", err)
	}
	provider, model := schemas.ParseModelString(b.Model, schemas.OpenAI)
	if model == "" {
		return nil, false, errors.New("model is required")
	}
	if len(b.Messages) == 0 {
		return nil, false, errors.New("messages is required for chat completion")
	}
	params := &schemas.ChatParameters{}
	if err := sonic.Unmarshal(body, params); err != nil {
		return nil, false, fmt.Errorf("invalid request format: %v", err)
	}
	var raw map[string]json.RawMessage
	if err := sonic.Unmarshal(body, &raw); err == nil {
		extra := make(map[string]any)
		for k, v := range raw {
			if knownChatFields[k] {
				continue
			}
			var x any
			if sonic.Unmarshal(v, &x) == nil {
				extra[k] = x
			}
		}
		if mt, ok := extra["max_tokens"].(float64); ok && params.MaxCompletionTokens == nil {
			n := int(mt)
			params.MaxCompletionTokens = &n
			delete(extra, "max_tokens")
		}
		params.ExtraParams = extra
	}
	var fallbacks []schemas.Fallback
	for _, f := range b.Fallbacks {
		if p, m := schemas.ParseModelString(f, ""); p != "" && m != "" {
			fallbacks = append(fallbacks, schemas.Fallback{Provider: p, Model: m})
		}
	}
	return &schemas.BifrostChatRequest{
		Provider:  provider,
		Model:     model,
		Input:     b.Messages,
		Params:    params,
		Fallbacks: fallbacks,
	}, b.Stream != nil && *b.Stream, nil
}

// sendBifrostError answers with the error's status (500 without one) and
// the error as JSON.
func sendBifrostError(ctx *fasthttp.RequestCtx, e *schemas.BifrostError) {
	status := fasthttp.StatusInternalServerError
	if e.StatusCode != nil {
		status = *e.StatusCode
	} else if !e.IsBifrostError {
		status = fasthttp.StatusBadRequest
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	_ = json.NewEncoder(ctx).Encode(e)
}

func sendError(ctx *fasthttp.RequestCtx, status int, msg string) {
	sendBifrostError(ctx, &schemas.BifrostError{StatusCode: &status, Error: &schemas.ErrorField{Message: msg}})
}

// stats is oais-bench's /stats answer (cmd/oais-bench/roles.go): the fields
// the bench reads for this peer.
type stats struct {
	TotalAlloc uint64 `json:"total_alloc"`
	Mallocs    uint64 `json:"mallocs"`
	CPUNanos   int64  `json:"cpu_ns"`
	RSS        int64  `json:"rss"`
	HWM        int64  `json:"hwm"`
}

func readStats() stats {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	st := stats{TotalAlloc: ms.TotalAlloc, Mallocs: ms.Mallocs}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		st.CPUNanos = ru.Utime.Nano() + ru.Stime.Nano()
	}
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			switch k {
			case "VmRSS":
				st.RSS = kb << 10
			case "VmHWM":
				st.HWM = kb << 10
			}
		}
	}
	return st
}

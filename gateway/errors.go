package gateway

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/oais/oais/gateway/jsonscan"
	"github.com/oais/oais/gateway/ratelimit"
	"github.com/oais/oais/internal/keys"
)

// Errors the gateway refuses requests with. wireError turns each into its
// CONTRACT §3 status and OpenAI error object; nothing else writes errors.
var (
	ErrInvalidKey         = errors.New("gateway: missing, malformed or unknown API key")
	ErrKeyInURL           = errors.New("gateway: API key in the URL")
	ErrWorkspaceSuspended = errors.New("gateway: workspace suspended")
	ErrWorkspaceInactive  = errors.New("gateway: workspace deactivated by its owner")
	ErrIPNotAllowed       = errors.New("gateway: client IP not in the key's allow-list")
	ErrModelNotAllowed    = errors.New("gateway: model not allowed for the key")
	ErrBadRequest         = errors.New("gateway: malformed JSON body")
	ErrMissingModel       = errors.New("gateway: no model in the request")
	// ErrBackground: a /v1/responses request with "background": true,
	// whose generation happens after an answer without usage.
	ErrBackground       = errors.New("gateway: background responses are not served")
	ErrTooLarge         = errors.New("gateway: request body over the limit")
	ErrBodyTimeout      = errors.New("gateway: request body not received in time")
	ErrNotFound         = errors.New("gateway: unknown route")
	ErrMethodNotAllowed = errors.New("gateway: method not allowed")
	ErrUpstreamDown     = errors.New("gateway: upstream unreachable")
	ErrUpstreamTimeout  = errors.New("gateway: upstream timed out")
	// ErrUpstreamForbidden: a workspace's own upstream leads to an address
	// tenants may not reach (internal/egress).
	ErrUpstreamForbidden = errors.New("gateway: workspace upstream address not allowed")
	// ErrNoChannel: channels serve the model, but none may take a request
	// now (breakers open, RPM/TPM ceilings reached).
	ErrNoChannel         = errors.New("gateway: no channel available for the model")
	ErrUnavailable       = errors.New("gateway: cannot meter requests now")
	ErrIdempotencyReused = errors.New("gateway: idempotency key reused with another body")
	ErrIdempotencyBusy   = errors.New("gateway: a request with this idempotency key is in flight")
	// errClientGone is never written (there is nobody to write to); it
	// gives the access log its 499.
	errClientGone = errors.New("gateway: client closed the request")
)

// ModelNotPricedError refuses a model that has no price on this gateway
// (internal/prices): serving it would bill nothing, or guess.
type ModelNotPricedError struct{ Model string }

func (e *ModelNotPricedError) Error() string {
	return "gateway: model " + strconv.Quote(e.Model) + " has no price"
}

// ChannelRequestError refuses a request that the chosen channel's
// provider cannot take (an Anthropic channel asked for embeddings, or a
// request the Anthropic translation cannot carry); its text is written for
// the client.
type ChannelRequestError struct{ Err error }

func (e *ChannelRequestError) Error() string { return e.Err.Error() }
func (e *ChannelRequestError) Unwrap() error { return e.Err }

// StatusClientClosed is the access log's status for a request its client
// abandoned (nginx's 499); it is never sent.
const StatusClientClosed = 499

// limitScope names a rate-limit counter, for the error code, the metric
// label and the Retry-After decision.
type limitScope string

const (
	scopeWorkspaceRPM    limitScope = "workspace_rpm"
	scopeWorkspaceTPM    limitScope = "workspace_tpm"
	scopeKeyRPM          limitScope = "key_rpm"
	scopeKeyTPM          limitScope = "key_tpm"
	scopeKeyRequests     limitScope = "key_requests"
	scopeWorkspaceTokens limitScope = "workspace_tokens"
	scopeWorkspaceSpend  limitScope = "workspace_spend"
	scopeKeyCredit       limitScope = "key_credit"
)

// limitError is a refusal by the Limiter, with the counter that refused.
type limitError struct {
	scope  limitScope
	denied *ratelimit.Denied
}

func (e *limitError) Error() string { return "gateway: " + string(e.scope) + " limit reached" }
func (e *limitError) Unwrap() error { return e.denied }

// apiError is the wire form of an error: status and OpenAI error object.
type apiError struct {
	status  int
	typ     string
	code    string
	message string
	// retryAfter, when positive, becomes a Retry-After header (seconds).
	retryAfter time.Duration
}

// maxModelInMessage bounds the model name an error message repeats.
const maxModelInMessage = 100

// shortModel is model cut to maxModelInMessage bytes on a character
// boundary, for a message that repeats client input.
func shortModel(model string) string {
	if len(model) <= maxModelInMessage {
		return model
	}
	n := maxModelInMessage
	for n > 0 && !utf8.RuneStart(model[n]) {
		n--
	}
	return model[:n] + "…"
}

// Messages clients see. The first is fixed by CONTRACT §3.
const (
	msgInvalidKey = "Invalid authentication token"
	msgBadJSON    = "We could not parse the JSON body of your request."
)

// wireError maps an error to what the client sees. It is the only place
// that decides statuses and codes; anything it does not know is a 500
// whose message says nothing of the cause.
func wireError(err error) apiError {
	var le *limitError
	var np *ModelNotPricedError
	var cr *ChannelRequestError
	switch {
	case errors.As(err, &le):
		switch le.scope {
		case scopeKeyRequests:
			return apiError{status: http.StatusTooManyRequests, typ: "requests", code: "key_request_limit_reached",
				message: "This API key has reached its maximum number of requests."}
		case scopeWorkspaceTokens:
			return apiError{status: http.StatusTooManyRequests, typ: "insufficient_quota", code: "insufficient_quota",
				message: "Your workspace has used its monthly token quota."}
		case scopeWorkspaceSpend:
			return apiError{status: http.StatusTooManyRequests, typ: "insufficient_quota", code: "insufficient_quota",
				message: "Your workspace has reached its monthly spend cap."}
		case scopeKeyCredit:
			return apiError{status: http.StatusTooManyRequests, typ: "insufficient_quota", code: "insufficient_quota",
				message: "This API key has used its credit quota. Ask your admin to top it up."}
		}
		typ := "requests"
		if le.scope == scopeWorkspaceTPM || le.scope == scopeKeyTPM {
			typ = "tokens"
		}
		retry := le.denied.RetryAfter
		if retry <= 0 {
			retry = time.Second
		}
		return apiError{status: http.StatusTooManyRequests, typ: typ, code: "rate_limit_exceeded",
			message: "Rate limit reached (" + string(le.scope) + "). Please try again in " + ceilSeconds(retry) + "s.", retryAfter: retry}
	case errors.Is(err, ErrInvalidKey), errors.Is(err, ErrKeyInURL), errors.Is(err, keys.ErrMalformed):
		return apiError{status: http.StatusUnauthorized, typ: "invalid_request_error", code: "invalid_api_key", message: msgInvalidKey}
	case errors.Is(err, keys.ErrRevoked):
		return apiError{status: http.StatusUnauthorized, typ: "invalid_request_error", code: "api_key_revoked", message: "This API key has been revoked."}
	case errors.Is(err, keys.ErrExpired):
		return apiError{status: http.StatusUnauthorized, typ: "invalid_request_error", code: "api_key_expired", message: "This API key has expired."}
	case errors.Is(err, keys.ErrDisabled):
		return apiError{status: http.StatusUnauthorized, typ: "invalid_request_error", code: "api_key_disabled", message: "This API key is disabled."}
	case errors.Is(err, keys.ErrRequestLimit):
		return apiError{status: http.StatusTooManyRequests, typ: "requests", code: "key_request_limit_reached",
			message: "This API key has reached its maximum number of requests."}
	case errors.Is(err, ErrWorkspaceSuspended):
		return apiError{status: http.StatusForbidden, typ: "invalid_request_error", code: "workspace_suspended",
			message: "This workspace is suspended. Check its billing settings."}
	case errors.Is(err, ErrWorkspaceInactive):
		return apiError{status: http.StatusForbidden, typ: "invalid_request_error", code: "workspace_inactive",
			message: "This workspace is inactive. Its owner can activate it again in the dashboard."}
	case errors.Is(err, ErrIPNotAllowed):
		return apiError{status: http.StatusForbidden, typ: "invalid_request_error", code: "ip_not_allowed",
			message: "Your IP address is not allowed to use this API key."}
	case errors.Is(err, ErrModelNotAllowed):
		return apiError{status: http.StatusForbidden, typ: "invalid_request_error", code: "model_not_allowed",
			message: "This API key is not allowed to use the requested model."}
	case errors.As(err, &np):
		return apiError{status: http.StatusBadRequest, typ: "invalid_request_error", code: "model_not_priced",
			message: "The model `" + shortModel(np.Model) + "` has no price on this gateway; ask your admin to add one."}
	case errors.Is(err, ErrBadRequest):
		return apiError{status: http.StatusBadRequest, typ: "invalid_request_error", code: "invalid_request_error", message: msgBadJSON}
	case errors.Is(err, ErrMissingModel):
		return apiError{status: http.StatusBadRequest, typ: "invalid_request_error", code: "invalid_request_error",
			message: "You must provide a model parameter."}
	case errors.Is(err, ErrBackground):
		return apiError{status: http.StatusBadRequest, typ: "invalid_request_error", code: "unsupported_parameter",
			message: "`background` is not supported by this gateway: its usage could not be metered. Send the request without it (stream it for a long answer)."}
	case errors.Is(err, ErrTooLarge):
		return apiError{status: http.StatusRequestEntityTooLarge, typ: "invalid_request_error", code: "request_too_large",
			message: "The request body is too large."}
	case errors.Is(err, ErrBodyTimeout):
		return apiError{status: http.StatusRequestTimeout, typ: "invalid_request_error", code: "request_timeout",
			message: "The request body did not arrive in time. Send it at once, then wait for the answer."}
	case errors.Is(err, ErrNotFound):
		return apiError{status: http.StatusNotFound, typ: "invalid_request_error", code: "unknown_url", message: "Unknown request URL."}
	case errors.Is(err, ErrMethodNotAllowed):
		return apiError{status: http.StatusMethodNotAllowed, typ: "invalid_request_error", code: "method_not_allowed",
			message: "Method not allowed for this URL."}
	case errors.Is(err, ErrIdempotencyReused):
		return apiError{status: http.StatusUnprocessableEntity, typ: "invalid_request_error", code: "idempotency_key_reused",
			message: "This Idempotency-Key was already used with a different request body."}
	case errors.Is(err, ErrIdempotencyBusy):
		return apiError{status: http.StatusConflict, typ: "invalid_request_error", code: "idempotency_key_in_use",
			message: "A request with this Idempotency-Key is still being processed."}
	case errors.As(err, &cr):
		return apiError{status: http.StatusBadRequest, typ: "invalid_request_error", code: "invalid_request_error",
			message: "The channel serving this model cannot take this request: " + cr.Err.Error()}
	case errors.Is(err, ErrNoChannel):
		return apiError{status: http.StatusBadGateway, typ: "server_error", code: "upstream_unavailable",
			message: "No channel serving this model can take a request now (all are cooling down after failures or at their rate ceilings). Please retry shortly."}
	case errors.Is(err, ErrUpstreamDown):
		return apiError{status: http.StatusBadGateway, typ: "server_error", code: "upstream_unavailable",
			message: "The upstream model provider could not be reached."}
	case errors.Is(err, ErrUpstreamForbidden):
		// The contract's code for an upstream the gateway cannot reach; the
		// message tells the tenant why, never the address it resolved to.
		return apiError{status: http.StatusBadGateway, typ: "server_error", code: "upstream_unavailable",
			message: "The workspace's upstream leads to an address the gateway may not reach (loopback, private, link-local or a cloud metadata service). An operator can allow a network with OAIS_UPSTREAM_ALLOWED_NETWORKS."}
	case errors.Is(err, ErrUpstreamTimeout):
		return apiError{status: http.StatusGatewayTimeout, typ: "server_error", code: "upstream_timeout",
			message: "The upstream model provider timed out."}
	case errors.Is(err, ErrUnavailable):
		return apiError{status: http.StatusServiceUnavailable, typ: "server_error", code: "service_unavailable",
			message: "The gateway cannot meter requests right now, so it refuses them rather than serve them unbilled. Please retry shortly."}
	case errors.Is(err, errClientGone):
		return apiError{status: StatusClientClosed, typ: "invalid_request_error", code: "client_closed_request", message: "Client closed the request."}
	}
	return apiError{status: http.StatusInternalServerError, typ: "server_error", code: "internal_error",
		message: "The gateway had an internal error."}
}

// ceilSeconds formats d as whole seconds, rounded up and at least 1: what
// Retry-After carries.
func ceilSeconds(d time.Duration) string {
	s := int64(math.Ceil(d.Seconds()))
	if s < 1 {
		s = 1
	}
	return strconv.FormatInt(s, 10)
}

// appendBody appends e's OpenAI error object.
func (e *apiError) appendBody(b []byte) []byte {
	b = append(b, `{"error":{"message":`...)
	b = jsonscan.AppendString(b, e.message)
	b = append(b, `,"type":`...)
	b = jsonscan.AppendString(b, e.typ)
	b = append(b, `,"param":null,"code":`...)
	b = jsonscan.AppendString(b, e.code)
	return append(b, "}}\n"...)
}

// writeError writes err to w as an OpenAI error and returns its status.
func writeError(w http.ResponseWriter, err error) int {
	e := wireError(err)
	if e.status == StatusClientClosed {
		return e.status
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if e.retryAfter > 0 {
		h.Set("Retry-After", ceilSeconds(e.retryAfter))
	}
	var buf [256]byte
	b := e.appendBody(buf[:0])
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(e.status)
	_, _ = w.Write(b)
	return e.status
}

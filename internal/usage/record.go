// Package usage defines the usage record that the gateway writes for every
// answered request, and for every refused or failed one of a known key,
// and that the ledger, quotas and billing consume.
package usage

import (
	"math"
	"time"
)

// Source says where a record's token counts come from.
type Source string

// Sources of token counts.
const (
	// SourceUpstream: the upstream reported the counts (a usage object).
	SourceUpstream Source = "upstream"
	// SourceEstimated: the gateway counted tokens itself (see Record.EstimateReason).
	SourceEstimated Source = "estimated"
	// SourceCache: the answer came from the response cache.
	SourceCache Source = "cache"
	// SourceNone: a refused or failed request (Record.ErrorCode); it
	// counts no tokens.
	SourceNone Source = "none"
)

// Reasons of Record.EstimateReason: why the gateway counted tokens itself.
const (
	// ReasonClientDisconnected: the client left before the usage arrived.
	ReasonClientDisconnected = "client_disconnected"
	// ReasonNoUpstreamUsage: the answer carried no usage object.
	ReasonNoUpstreamUsage = "no_upstream_usage"
	// ReasonImplausibleUsage: the upstream reported counts that are not
	// integers in [0, MaxTokens]; the gateway refused them as absurd.
	ReasonImplausibleUsage = "implausible_upstream_usage"
)

// MaxTokens bounds each token count of one request (prompt, completion and
// cached, each): ten million. The largest context windows hold about one
// million tokens, so a count above it is not a measurement but a fault or a
// lie, and the gateway keeps its own estimate instead; the ledger refuses
// a record above it. With MaxCostMicros it is what keeps every sum of usage
// far from int64's limit (docs/billing.md, "Bounds"). Raise it only with
// a model whose window comes within a factor of ten of it.
const MaxTokens = 10_000_000

// MaxCostMicros bounds one request's cost: MaxTokens prompt and MaxTokens
// completion tokens at the highest rate a price may have (pricing.MaxRate,
// $1,000,000 per million tokens), i.e. $20,000,000. Raise it with either.
const MaxCostMicros = 2 * MaxTokens * 1_000_000

// Record is one request's usage. RequestID is unique: every consumer
// (ledger insert, billing) is idempotent by it.
//
// A refused or failed request of a known key (a 403 model_not_allowed, a
// 429, an upstream error or a 502) is a Record too, so that usage can show
// errors: it has an ErrorCode, the status the client got, Source
// SourceNone and no tokens and no cost; it is never a request in the
// figures (the ledger counts answered requests, status < 400, as requests).
type Record struct {
	RequestID        string `json:"request_id"`
	WorkspaceID      string `json:"workspace_id"`
	KeyID            string `json:"key_id"`
	Model            string `json:"model"`
	Endpoint         string `json:"endpoint"` // e.g. "/v1/chat/completions"
	Stream           bool   `json:"stream,omitempty"`
	PromptTokens     int64  `json:"prompt_tokens"`
	CompletionTokens int64  `json:"completion_tokens"`
	CachedTokens     int64  `json:"cached_tokens,omitempty"`
	CostMicros       int64  `json:"cost_micros"`
	Status           int    `json:"status"` // HTTP status returned to the client
	// ErrorCode is the error.code the client got (CONTRACT §3), or
	// "upstream_error" for an upstream's own error passed through; empty
	// for an answered request.
	ErrorCode      string `json:"error_code,omitempty"`
	LatencyMillis  int64  `json:"latency_ms"`
	CacheHit       bool   `json:"cache_hit,omitempty"`
	Source         Source `json:"source"`
	EstimateReason string `json:"estimate_reason,omitempty"` // one of the Reason constants
	ClientIP       string `json:"client_ip,omitempty"`
	// Channel names the channel (route.Channel.Name) that served the
	// request; empty for the gateway's global upstream or none.
	Channel string    `json:"channel,omitempty"`
	Time    time.Time `json:"time"` // when the answer ended
}

// ErrorCodeUpstream is the ErrorCode of an upstream's own error answer
// (status >= 400), passed through to the client as it was.
const ErrorCodeUpstream = "upstream_error"

// IsError reports whether r records a refused or failed request.
func (r *Record) IsError() bool { return r.ErrorCode != "" }

// TotalTokens is prompt plus completion tokens.
func (r *Record) TotalTokens() int64 { return r.PromptTokens + r.CompletionTokens }

// SaturatingAdd returns a+b, or the int64 limit it would cross: sums of
// tokens and money stop at the limit instead of wrapping to a negative.
func SaturatingAdd(a, b int64) int64 {
	s := a + b
	switch {
	case a > 0 && b > 0 && s < 0:
		return math.MaxInt64
	case a < 0 && b < 0 && s >= 0:
		return math.MinInt64
	}
	return s
}

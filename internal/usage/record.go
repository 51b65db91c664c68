// Package usage defines the usage record that the gateway writes for every
// answered request and that the ledger, quotas and billing consume.
package usage

import "time"

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
)

// Record is one answered request's usage. RequestID is unique: every consumer
// (ledger insert, billing) is idempotent by it.
type Record struct {
	RequestID        string    `json:"request_id"`
	WorkspaceID      string    `json:"workspace_id"`
	KeyID            string    `json:"key_id"`
	Model            string    `json:"model"`
	Endpoint         string    `json:"endpoint"` // e.g. "/v1/chat/completions"
	Stream           bool      `json:"stream,omitempty"`
	PromptTokens     int64     `json:"prompt_tokens"`
	CompletionTokens int64     `json:"completion_tokens"`
	CachedTokens     int64     `json:"cached_tokens,omitempty"`
	CostMicros       int64     `json:"cost_micros"`
	Status           int       `json:"status"` // HTTP status returned to the client
	LatencyMillis    int64     `json:"latency_ms"`
	CacheHit         bool      `json:"cache_hit,omitempty"`
	Source           Source    `json:"source"`
	EstimateReason   string    `json:"estimate_reason,omitempty"` // "client_disconnected", "no_upstream_usage"
	ClientIP         string    `json:"client_ip,omitempty"`
	Time             time.Time `json:"time"` // when the answer ended
}

// TotalTokens is prompt plus completion tokens.
func (r *Record) TotalTokens() int64 { return r.PromptTokens + r.CompletionTokens }

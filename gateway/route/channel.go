// Package route picks the upstream channel that serves a request: the
// highest-priority healthy channels that serve its model, weighted at
// random within a priority, with retries on the next channel and a
// circuit breaker per channel (docs/routing.md).
package route

import "net/url"

// Type is a channel's provider protocol; it picks the adapter.
type Type string

// Channel types (ChannelInput.type in the GraphQL API).
const (
	// OpenAI: any OpenAI-compatible API (OpenAI, vLLM, Together, Groq,
	// OpenRouter…): base URL + "/chat/completions", "Authorization: Bearer".
	OpenAI Type = "OPENAI"
	// Azure: Azure OpenAI deployments: base URL + "/openai/deployments/
	// {deployment}/chat/completions?api-version=…", "api-key" header.
	Azure Type = "AZURE"
	// Anthropic: the Messages API (base URL + "/v1/messages",
	// "x-api-key"), translated to and from chat completions by
	// gateway/anthropic.
	Anthropic Type = "ANTHROPIC"
)

// Channel is one upstream provider account as the gateway needs it. The
// control plane stores it (ent schema Channel); the key snapshot hands it
// to the gateway, which only reads it: a change is a new *Channel.
type Channel struct {
	ID   string
	Name string // unique within its owner; sent back in x-oais-channel
	// WorkspaceID owns the channel; empty for a site-wide channel, which
	// serves every workspace that has no channel of its own for the model.
	WorkspaceID string
	Type        Type
	BaseURL     *url.URL
	// APIKey is the provider's secret, unsealed; it never reaches a log.
	APIKey string
	// APIVersion is Azure's api-version query parameter (empty: the
	// adapter's default).
	APIVersion string
	// Models lists the client model names the channel serves; empty means
	// every model.
	Models []string
	// ModelMap renames a client model for this channel (client "gpt-4o" →
	// upstream "my-deployment"); a model it does not name keeps its name.
	ModelMap map[string]string
	// Priority: higher is tried first. Weight: the share of traffic within
	// one priority (0 counts as 1).
	Priority int
	Weight   int
	Enabled  bool
	// RPM and TPM cap the channel's own traffic; 0 means no cap.
	RPM, TPM int64
}

// Serves reports whether c serves the client model.
func (c *Channel) Serves(model string) bool {
	if !c.Enabled {
		return false
	}
	if len(c.Models) == 0 {
		return true
	}
	for _, m := range c.Models {
		if m == model {
			return true
		}
	}
	return false
}

// UpstreamModel is the model name sent to the channel for the client model.
func (c *Channel) UpstreamModel(model string) string {
	if to, ok := c.ModelMap[model]; ok && to != "" {
		return to
	}
	return model
}

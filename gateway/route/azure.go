package route

import (
	"net/http"
	"net/url"
)

// DefaultAzureAPIVersion is the api-version sent when a channel names
// none: Azure OpenAI's GA data-plane version at the time of writing.
const DefaultAzureAPIVersion = "2024-10-21"

// azureAdapter is Azure OpenAI: the deployment (the channel's upstream
// model name) is in the URL, {base}/openai/deployments/{deployment}/…
// ?api-version=…, and the key in the "api-key" header. Requests and
// answers are OpenAI's.
type azureAdapter struct{}

func (azureAdapter) Request(ch *Channel, path string, h http.Header, body []byte, model string) (*url.URL, []byte, error) {
	if ch.APIKey != "" {
		h["Api-Key"] = []string{ch.APIKey}
	}
	v := ch.APIVersion
	if v == "" {
		v = DefaultAzureAPIVersion
	}
	base := baseJoin(ch.BaseURL, "")
	u := baseJoin(ch.BaseURL, "/openai/deployments/"+model+path)
	// RawPath keeps a deployment name's reserved characters (a "/")
	// escaped, so it stays one path segment.
	u.RawPath = base.EscapedPath() + "/openai/deployments/" + url.PathEscape(model) + path
	u.RawQuery = "api-version=" + url.QueryEscape(v)
	return u, SetModel(body, model), nil
}

func (azureAdapter) Response(*http.Response, string, bool) error { return nil }

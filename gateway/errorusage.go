package gateway

import (
	"net/http"

	"github.com/oais/oais/internal/usage"
)

// Refused and failed requests are usage too: a workspace's usage shows its
// errors (a 403 model_not_allowed, a 429, an upstream's 500, a 502) next to
// its requests. Each one of a known key gets a usage record with its
// ErrorCode, the status the client got and no tokens and no cost, so it
// is never billed, never counts as a request nor in a key's request_count,
// and costs the refusal one spool append.
//
// Requests without a key the gateway knows (401: none, malformed,
// unknown) have no workspace that may see them: they are counted in
// oais_gateway_unattributed_refusals_total only. A known key refused with
// 401 (revoked, expired, disabled, bound to another gateway) is a failed
// authentication its workspace's owners want to see (the audit log's
// key.auth_failed lines, the request log), but a leaked revoked key must
// not be a way to write rows into its workspace's ledger: each replica
// records the first such refusal of a key in each minute and counts the
// rest as unattributed, so the rows stay at one per key, minute and
// replica however hard the key is hammered. A client that hung up (499)
// got no error, and is not one.

// spareRecorder is implemented by a Recorder (the spool) that can tell
// whether it has room to spare: error records are best effort, and a flood
// of refusals must never fill the spool, which would refuse every answered
// request with 503.
type spareRecorder interface{ Spare() bool }

// recordError appends the error record of c, which finished with status
// and, when the gateway refused it, the error code (wireError's), if it is
// a refused or failed request of a known key with nothing recorded yet.
func (g *Gateway) recordError(c *call, status int, code string) {
	if code == "" {
		code = usage.ErrorCodeUpstream // an upstream's own error, passed through
	}
	switch {
	case status < 400, status == StatusClientClosed, c.rec != nil:
		return
	case c.p == nil, status == http.StatusUnauthorized && !g.authFailures.allow(c.p.Key.ID, c.now):
		g.metrics.unattributed.WithLabelValues(code).Inc()
		return
	}
	if s, ok := g.deps.Recorder.(spareRecorder); ok && !s.Spare() {
		g.metrics.errorRecordsDropped.Inc()
		return
	}
	r := g.newRecord(c, status) // c.recBuf, which nothing else uses now
	r.ErrorCode, r.Source = code, usage.SourceNone
	if err := g.deps.Recorder.Append(r); err != nil {
		// No log line: a refusal flood would make one per request.
		g.metrics.errorRecordsDropped.Inc()
	}
}

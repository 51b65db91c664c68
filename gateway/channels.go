package gateway

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/oais/oais/gateway/route"
	"github.com/oais/oais/internal/egress"
)

// Routing over channels (docs/routing.md). A request whose model some
// channel serves (route.Candidates) goes to the channel route.Router
// picks; on a connect error, a timeout before the answer's headers, a 429
// or a 5xx it goes to the next channel the Router picks, at most
// Config.ChannelMaxAttempts times, all within the request's UpstreamTimeout: before the
// answer's headers a request waits at most ChannelMaxAttempts ×
// UpstreamHeaderTimeout. Every attempt happens before a byte of
// the answer is written to the client: the forwarder decides on the
// status alone, then relays one answer, so a stream that has begun is
// never retried (its cut reaches the client, as without channels).
//
// Retrying is safe for the gateway's endpoints: chat completions,
// completions and embeddings have no effect beyond the upstream's own
// answer (and its bill on the channel's account), and a failed attempt
// answered nothing. The call is admitted, reserved, metered and recorded
// once, whatever the attempts; an Idempotency-Key still keeps the one
// answer the client got.

// DefaultChannelMaxAttempts bounds the channels one request tries unless
// Config.ChannelMaxAttempts says otherwise, and MaxChannelAttempts bounds
// that setting: the tried channels live in an array of that size on the
// stack (tryChannels), so raise both together.
const (
	DefaultChannelMaxAttempts = 3
	MaxChannelAttempts        = 10
)

// maxDrain is how much of a failed attempt's body is read so that its
// connection can be reused; a larger one is closed instead.
const maxDrain = 64 << 10

// channelHeader names the channel that answered (CONTRACT: x-oais-channel).
const channelHeader = "X-Oais-Channel"

// tryChannels sends c to its channels until one answers something that is
// not retried, and returns that answer in OpenAI's shape. It returns nil
// after writing the error itself.
func (g *Gateway) tryChannels(ctx context.Context, c *call, w *respWriter, r *http.Request) *http.Response {
	var tried [MaxChannelAttempts]*route.Channel
	maxAttempts := g.cfg.ChannelMaxAttempts
	if route.Pinned(c.ep.upstream, c.body) {
		// Only the account that stored the earlier response can answer:
		// another channel would turn this channel's 429 or 5xx into a
		// misleading 404. The client sees this channel's answer.
		maxAttempts = 1
	}
	n := 0
	model := c.req.Model
	ch := g.router.Pick(c.chs, model, c.ep.upstream, nil)
	if ch == nil {
		c.proxyErr = ErrNoChannel
		writeError(w, ErrNoChannel)
		return nil
	}
	for {
		tried[n] = ch
		n++
		c.ch = ch
		ad := route.For(ch.Type)
		h := outboundHeader(r.Header, nil, c.body != nil)
		u, body, err := ad.Request(ch, c.ep.upstream, h, c.body, ch.UpstreamModel(model))
		if err != nil {
			// The client's request, not the channel, is at fault.
			c.proxyErr = &ChannelRequestError{Err: err}
			writeError(w, c.proxyErr)
			return nil
		}
		res, err := g.tenantTransport.RoundTrip(g.newOutRequest(ctx, c, r, u, h, body))
		retry := false
		var retryAfter time.Duration
		switch {
		case err != nil:
			// A client that left, or a destination the egress policy
			// forbids, is no fault of the channel's health.
			retry = c.client.Err() == nil && !errors.Is(err, egress.ErrForbidden)
			if retry {
				g.router.Failure(ch, 0)
				g.metrics.channelFailures.WithLabelValues(ch.Name).Inc()
			}
		case res.StatusCode == http.StatusTooManyRequests || res.StatusCode >= 500:
			retryAfter = parseRetryAfter(res.Header.Get("Retry-After"), g.cfg.Now())
			g.router.Failure(ch, retryAfter)
			g.metrics.channelFailures.WithLabelValues(ch.Name).Inc()
			retry = true
		default:
			g.router.Success(ch)
		}
		var next *route.Channel
		if retry && n < maxAttempts && ctx.Err() == nil {
			next = g.router.Pick(c.chs, model, c.ep.upstream, tried[:n])
		}
		if next == nil {
			if err != nil {
				g.upstreamFailed(c, w, r, err)
				return nil
			}
			if err := ad.Response(res, model, c.stream); err != nil {
				res.Body.Close()
				g.upstreamFailed(c, w, r, err)
				return nil
			}
			w.Header()[channelHeader] = []string{ch.Name}
			return res
		}
		if res != nil {
			_, _ = io.CopyN(io.Discard, res.Body, maxDrain)
			res.Body.Close()
		}
		g.log.LogAttrs(r.Context(), slog.LevelInfo, "channel failed, trying the next",
			slog.String("request_id", c.publicID), slog.String("channel", ch.Name), slog.String("next", next.Name),
			slog.Int("status", statusOf(res)), slog.Any("err", err))
		ch = next
	}
}

func statusOf(res *http.Response) int {
	if res == nil {
		return 0
	}
	return res.StatusCode
}

// parseRetryAfter reads a Retry-After header: seconds or an HTTP date; 0
// when absent or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(min(s, int64(time.Hour/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

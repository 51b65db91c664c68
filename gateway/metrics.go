package gateway

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics live on a private registry: two gateways in one process (tests)
// must not collide, and nothing else's metrics leak into /metrics.
type metrics struct {
	reg          *prometheus.Registry
	handler      http.Handler
	requests     *prometheus.CounterVec
	upstream     prometheus.Histogram
	added        prometheus.Histogram
	ratelimited  *prometheus.CounterVec
	cacheHits    prometheus.Counter
	recordErrors prometheus.Counter
	implausible  *prometheus.CounterVec
	// unattributed and errorRecordsDropped: errors missing from every
	// workspace's usage (errorusage.go).
	unattributed        *prometheus.CounterVec
	errorRecordsDropped prometheus.Counter
	// channelFailures counts failed channel attempts by channel name (at
	// most channels.MaxPerOwner per workspace and for the site, but any
	// workspace owner may create them: the set grows with workspaces).
	channelFailures *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		// Labels carry workspace ids, never key ids or secrets; model is
		// one of a bounded set (modelLabel).
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "oais_gateway_requests_total",
			Help: "Requests answered by the gateway, by workspace, model and HTTP status (499: client went away).",
		}, []string{"workspace", "model", "status"}),
		upstream: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "oais_gateway_upstream_seconds",
			Help:    "Time spent on the upstream exchange, from sending the request to the end of its body.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600},
		}),
		added: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "oais_gateway_added_seconds",
			Help:    "Time the gateway added to a request: total time minus the upstream's.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25},
		}),
		ratelimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "oais_gateway_ratelimited_total",
			Help: "Requests refused by a limit, by the limit's scope.",
		}, []string{"scope"}),
		cacheHits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "oais_gateway_cache_hits_total",
			Help: "Requests answered from the response cache.",
		}),
		recordErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "oais_gateway_usage_record_errors_total",
			Help: "Usage records the spool refused; each is an answered request that may go unbilled.",
		}),
		implausible: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "oais_gateway_implausible_usage_total",
			Help: "Answers whose upstream reported usage counts that are not integers in [0, 10M]; each was billed at the gateway's own estimate (estimate_reason implausible_upstream_usage), by workspace.",
		}, []string{"workspace"}),
		unattributed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "oais_gateway_unattributed_refusals_total",
			Help: "Refusals that no workspace's usage shows, by error code: requests without a usable key (401), or refused before the key was read (405).",
		}, []string{"code"}),
		errorRecordsDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "oais_gateway_error_records_dropped_total",
			Help: "Refused or failed requests of known keys whose usage record was not kept (the spool had no room to spare); they are missing from the usage errors.",
		}),
		channelFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "oais_gateway_channel_failures_total",
			Help: "Channel attempts that failed (connection error, timeout before the headers, 429, 5xx), by channel; the request moved to the next channel when one was available (docs/routing.md).",
		}, []string{"channel"}),
	}
	m.reg.MustRegister(m.requests, m.upstream, m.added, m.ratelimited, m.cacheHits, m.recordErrors, m.implausible, m.unattributed, m.errorRecordsDropped, m.channelFailures,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	return m
}

// otherModel is the model label of every model that is neither priced nor
// named by an allow-list.
const otherModel = "other"

// modelLabel is model as a metrics label. A model name is client input, and
// every distinct label value is a time series kept for good: it is a label
// only as a name an admin put in p's allow-lists, or as the priced name it
// resolves to ("gpt-4o-2024-08-06" and "GPT-4o" are "gpt-4o"); anything
// else is "other". "" when no model was read.
func (g *Gateway) modelLabel(p *Principal, model string) string {
	if model == "" {
		return ""
	}
	if (len(p.Key.AllowedModels) > 0 || len(p.Workspace.Models) > 0) && p.modelAllowed(model) {
		return model
	}
	if g.priced != nil {
		if name, ok := g.priced.PricedName(model); ok {
			return name
		}
	}
	return otherModel
}

package billing

import "github.com/prometheus/client_golang/prometheus"

// Reasons a period is held for review; the first word of Period.Review and
// the reason label of oais_billing_periods_held_total.
const (
	// HoldUnexplained: past the dedup window, Stripe's meter event summary
	// explains neither "counted" nor "not counted" (or the period is too
	// old to check).
	HoldUnexplained = "unexplained"
	// HoldMeterError: Stripe reported the period's event invalid in a
	// billing.meter.error_report_triggered event, so it was not counted.
	HoldMeterError = "meter_error"
)

// Metrics counts what billing's operators alert on. A nil *Metrics counts
// nothing.
type Metrics struct {
	meterErrors prometheus.Counter
	heldTotal   *prometheus.CounterVec
	reissues    prometheus.Counter
}

// NewMetrics registers billing's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		meterErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "oais_billing_meter_invalid_events_total",
			Help: "Meter events Stripe acknowledged and then refused as invalid (billing.meter.error_report_triggered); they were not billed.",
		}),
		heldTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "oais_billing_periods_held_total",
			Help: "Billing periods put aside for an operator (controlplane billing reconcile lists them), by reason.",
		}, []string{"reason"}),
		reissues: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "oais_billing_periods_reissued_total",
			Help: "Billing periods Stripe had not counted by the end of their identifier's dedup window, sent again under a new identifier.",
		}),
	}
	m.heldTotal.WithLabelValues(HoldUnexplained)
	m.heldTotal.WithLabelValues(HoldMeterError)
	reg.MustRegister(m.meterErrors, m.heldTotal, m.reissues)
	return m
}

func (m *Metrics) invalidEvents(n int64) {
	if m != nil && n > 0 {
		m.meterErrors.Add(float64(n))
	}
}

func (m *Metrics) held(reason string) {
	if m != nil {
		m.heldTotal.WithLabelValues(reason).Inc()
	}
}

func (m *Metrics) reissued() {
	if m != nil {
		m.reissues.Inc()
	}
}

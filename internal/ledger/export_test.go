package ledger

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// SetCopyMin sets the smallest batch Ship copies to PostgreSQL; 0 disables
// COPY, 1 uses it always.
func SetCopyMin(l *Ledger, n int) { l.copyMin = n }

// HistogramPercentile is the percentile Series reports for values.
func HistogramPercentile(values []int64, p float64) int64 {
	var h histogram
	for _, v := range values {
		h.add(v, 1)
	}
	return h.percentile(p)
}

// Quarantined is how many records the ledger's metric says Ship
// quarantined, whatever the reason.
func Quarantined(l *Ledger) float64 {
	ch := make(chan prometheus.Metric, 8)
	l.quarantineCount.Collect(ch)
	close(ch)
	var n float64
	for m := range ch {
		var d dto.Metric
		if err := m.Write(&d); err == nil {
			n += d.GetCounter().GetValue()
		}
	}
	return n
}

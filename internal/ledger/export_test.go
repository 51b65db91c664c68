package ledger

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

package ledger

// SetCopyMin sets the smallest batch Ship copies to PostgreSQL; 0 disables
// COPY, 1 uses it always.
func SetCopyMin(l *Ledger, n int) { l.copyMin = n }

// PercentileDisc exposes percentileDisc.
var PercentileDisc = percentileDisc

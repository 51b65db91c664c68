package spool

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the spool's oais_spool_* series. The gauges read the spool's
// atomics when scraped, so Append pays only for its counter.
type metrics struct {
	appended       prometheus.Counter
	shipped        prometheus.Counter
	shipErrors     prometheus.Counter
	fullRejections prometheus.Counter
	syncErrors     prometheus.Counter
	diskErrors     prometheus.Counter

	reg        prometheus.Registerer
	registered []prometheus.Collector
}

func newMetrics(reg prometheus.Registerer, s *Spool) (*metrics, error) {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "oais", Subsystem: "spool", Name: name, Help: help})
	}
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "oais", Subsystem: "spool", Name: name, Help: help}, f)
	}
	m := &metrics{
		appended:       counter("appended_records_total", "Usage records appended to the spool."),
		shipped:        counter("shipped_records_total", "Usage records shipped to the database."),
		shipErrors:     counter("ship_errors_total", "Failed attempts to ship a batch of usage records."),
		fullRejections: counter("full_rejections_total", "Usage records refused because the spool was full."),
		syncErrors:     counter("sync_errors_total", "Failed fsync rounds of the spool."),
		diskErrors:     counter("disk_errors_total", "Writes and fsyncs the disk refused (ENOSPC, EIO, …), probes included."),
		reg:            reg,
	}
	if reg == nil {
		return m, nil
	}
	all := []prometheus.Collector{
		m.appended, m.shipped, m.shipErrors, m.fullRejections, m.syncErrors, m.diskErrors,
		gauge("disk_failing", "1 while the disk refuses the spool's writes or fsyncs: the gateway refuses new requests.", func() float64 {
			if s.failing.Load() {
				return 1
			}
			return 0
		}),
		gauge("held_records", "Usage records the disk refused, waiting in memory until it takes them.", func() float64 { return float64(s.heldRecords.Load()) }),
		gauge("pending_bytes", "Bytes in the spool not yet shipped.", func() float64 { return float64(s.Stats().PendingBytes) }),
		gauge("pending_records", "Usage records in the spool not yet shipped (approximate).", func() float64 { return float64(s.Stats().PendingRecords) }),
		gauge("disk_bytes", "Bytes the spool holds on disk, shipped or not; bounded by its maximum.", func() float64 { return float64(s.Stats().DiskBytes) }),
		gauge("max_bytes", "The spool's size limit; appends are refused beyond it.", func() float64 { return float64(s.opts.MaxBytes) }),
	}
	for _, c := range all {
		if err := reg.Register(c); err != nil {
			m.unregister()
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, fmt.Errorf("spool: metrics already registered (one spool per registry): %w", err)
			}
			return nil, fmt.Errorf("spool: register metrics: %w", err)
		}
		m.registered = append(m.registered, c)
	}
	return m, nil
}

// unregister lets a process open the spool again after Close with the same
// registry (tests, or a gateway that reopens on reload).
func (m *metrics) unregister() {
	if m == nil || m.reg == nil {
		return
	}
	for _, c := range m.registered {
		m.reg.Unregister(c)
	}
	m.registered = nil
}

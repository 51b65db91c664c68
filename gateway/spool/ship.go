package spool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/oais/oais/internal/usage"
)

// Sink receives shipped records, typically the usage ledger in the database.
type Sink interface {
	// Ship stores batch, in order. It must be idempotent by RequestID: a
	// batch is shipped again when the process dies between Ship returning
	// and the checkpoint being saved. It must not keep batch after it
	// returns; the spool reuses it.
	Ship(ctx context.Context, batch []usage.Record) error
}

// Defaults for ShipOptions.
const (
	DefaultBatchSize = 1000
	// DefaultShipInterval trades freshness for CPU: fewer, bigger batches
	// (one transaction each), while usage still reaches the ledger well
	// within a second.
	DefaultShipInterval = 250 * time.Millisecond
	DefaultMaxBackoff   = 10 * time.Second
)

// failureLogEvery spaces the warnings of a database outage: the first failure
// is logged at once, then one line per interval until shipping resumes.
const failureLogEvery = time.Minute

// ShipOptions configures Run. Zero values take the defaults.
type ShipOptions struct {
	// BatchSize is the most records one Ship call receives.
	BatchSize int
	// Interval is the pause between shipping passes when the sink is
	// healthy, and the first retry delay when it is not.
	Interval time.Duration
	// MaxBackoff caps the retry delay, which doubles on each failure.
	MaxBackoff time.Duration
}

func (o ShipOptions) withDefaults() ShipOptions {
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.Interval <= 0 {
		o.Interval = DefaultShipInterval
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	o.MaxBackoff = max(o.MaxBackoff, o.Interval)
	return o
}

// errSink marks an error that came from the Sink rather than from the disk.
var errSink = errors.New("sink refused batch")

// shipper is the read side of the spool, guarded by Spool.shipMu.
type shipper struct {
	cur   cursor   // first byte not yet shipped
	saved cursor   // what the checkpoint file says
	rf    *os.File // read handle on segment rfSeq
	rfSeq uint64
	buf   []byte
	batch []usage.Record
}

func (sh *shipper) closeReader() {
	if sh.rf != nil {
		sh.rf.Close()
		sh.rf = nil
	}
}

// Run ships pending records to sink until ctx is cancelled, then returns nil.
// On failure it retries with capped exponential backoff, leaving the records
// on disk, and logs one line when the outage starts, one a minute while it
// lasts and one when it ends. To ship what arrived in the last moments, call
// Flush with a fresh, short-lived context after Run returns.
func (s *Spool) Run(ctx context.Context, sink Sink, opts ShipOptions) error {
	opts = opts.withDefaults()
	var (
		backoff      = opts.Interval
		failingSince time.Time
		lastWarn     time.Time
	)
	timer := time.NewTimer(0) // ship what an earlier run left at once
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		err := s.shipPending(ctx, sink, opts.BatchSize)
		switch {
		case errors.Is(err, ErrClosed):
			return err
		case err != nil && ctx.Err() != nil:
			return nil
		case err != nil:
			now := time.Now()
			if failingSince.IsZero() || now.Sub(lastWarn) >= failureLogEvery {
				msg := "usage spool: cannot ship to the database; records stay on disk and will be retried"
				if !errors.Is(err, errSink) {
					msg = "usage spool: cannot read the spool or save its checkpoint; will retry"
				}
				st := s.Stats()
				s.log.Warn(msg, "pending_bytes", st.PendingBytes, "pending_records", st.PendingRecords, "retry_in", backoff, "err", err)
				lastWarn = now
			}
			if failingSince.IsZero() {
				failingSince = now
			}
			timer.Reset(jitter(backoff))
			backoff = min(2*backoff, opts.MaxBackoff)
		default:
			if !failingSince.IsZero() {
				st := s.Stats()
				s.log.Info("usage spool: shipping to the database resumed",
					"outage", time.Since(failingSince).Round(time.Millisecond), "pending_bytes", st.PendingBytes)
				failingSince = time.Time{}
			}
			backoff = opts.Interval
			timer.Reset(opts.Interval)
		}
	}
}

// jitter spreads d by ±20% so that gateway replicas that lost the database
// together do not return to it in step.
func jitter(d time.Duration) time.Duration {
	return d - d/5 + rand.N(2*d/5+1)
}

// Flush ships everything appended before the call, once, and returns the
// first error without retrying. The gateway calls it on shutdown, after Run
// has returned, with a context that bounds how long shutdown may wait; what
// Flush does not ship stays on disk for the next start.
func (s *Spool) Flush(ctx context.Context, sink Sink) error {
	return s.shipPending(ctx, sink, DefaultBatchSize)
}

// Unshipped calls read while no batch ships, then each for every record
// appended and not yet shipped, in order: what read sees of the sink plus
// what each sees counts every record this spool took exactly once, however
// shipping and appends interleave. The gateway seeds its budgets this way
// from the ledger and its own backlog (which grows while the database is
// unreachable). each must not keep the record; records in corrupt stretches
// are skipped, as shipping skips them.
func (s *Spool) Unshipped(ctx context.Context, read func(context.Context) error, each func(*usage.Record)) error {
	s.shipMu.Lock()
	defer s.shipMu.Unlock()
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if err := read(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	act := s.segs[len(s.segs)-1]
	segs := slices.Clone(s.segs)
	s.mu.Unlock()
	// Appends go on meanwhile: the records before target are the ones
	// read could not have seen, and later ones are for a later call.
	target := cursor{seg: act.seq, off: act.size}
	var buf []byte
	var rec usage.Record
	for _, seg := range segs {
		if seg.seq < s.ship.cur.seg || seg.seq > target.seg {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		from, limit := int64(0), seg.size
		if seg.seq == s.ship.cur.seg {
			from = s.ship.cur.off
		}
		if seg.seq == target.seg {
			limit = min(limit, target.off)
		}
		if from >= limit {
			continue
		}
		f, err := os.Open(filepath.Join(s.dir, segmentName(seg.seq)))
		if err != nil {
			return fmt.Errorf("spool: open segment: %w", err)
		}
		_, err = scanFrames(f, from, limit, &buf,
			func(_ int64, payload []byte) bool {
				rec = usage.Record{}
				if !decodeRecord(payload, &rec) {
					rec = usage.Record{}
					if json.Unmarshal(payload, &rec) != nil {
						return true // shipping logs it when it skips it
					}
				}
				each(&rec)
				return true
			},
			func(int64, int64) {})
		f.Close()
		if err != nil {
			return fmt.Errorf("spool: read %s: %w", segmentName(seg.seq), err)
		}
	}
	return nil
}

// shipPending ships in batches until it reaches the end of what was appended
// when it started. The bound keeps a busy gateway from holding a pass open
// forever.
func (s *Spool) shipPending(ctx context.Context, sink Sink, batchSize int) error {
	s.shipMu.Lock()
	defer s.shipMu.Unlock()
	s.mu.Lock()
	closed, act := s.closed, s.segs[len(s.segs)-1]
	s.mu.Unlock()
	if closed {
		return ErrClosed
	}
	target := cursor{seg: act.seq, off: act.size}
	sh := &s.ship
	for sh.cur.before(target) {
		if err := ctx.Err(); err != nil {
			return err
		}
		next, skipped, err := s.readBatch(batchSize, target)
		if err != nil {
			return err
		}
		if next == sh.cur {
			break // nothing left that is both committed and before target
		}
		if n := len(sh.batch); n > 0 {
			if err := sink.Ship(ctx, sh.batch); err != nil {
				s.m.shipErrors.Inc()
				return fmt.Errorf("%w: %w", errSink, err)
			}
			s.m.shipped.Add(float64(n))
			s.pendingRecords.Add(-int64(n))
		}
		s.pendingRecords.Add(-skipped)
		if err := s.advance(next); err != nil {
			return err
		}
	}
	// A checkpoint that failed to save earlier is retried even when there
	// was nothing new to ship, so that Flush at shutdown leaves it current.
	return s.saveCheckpoint()
}

// readBatch fills s.ship.batch with up to max records from the cursor, not
// reading at or past target, and returns where the batch ends and how many
// undecodable records it skipped.
func (s *Spool) readBatch(max int, target cursor) (next cursor, skipped int64, err error) {
	sh := &s.ship
	sh.batch = sh.batch[:0]
	next = sh.cur
	for len(sh.batch) < max && next.before(target) {
		seg, ok := s.segmentFrom(next.seg)
		if !ok {
			break
		}
		if seg.seq != next.seg {
			next = cursor{seg: seg.seq} // the segments in between are gone
			continue
		}
		limit := seg.size
		if seg.seq == target.seg {
			limit = min(limit, target.off)
		}
		if next.off >= limit {
			if seg.seq < target.seg {
				// A segment before target's is sealed, so it is done.
				next = cursor{seg: seg.seq + 1}
				continue
			}
			break
		}
		f, err := sh.reader(s.dir, seg.seq)
		if err != nil {
			return next, skipped, err
		}
		name := segmentName(seg.seq)
		next.off, err = scanFrames(f, next.off, limit, &sh.buf,
			func(off int64, payload []byte) bool {
				if len(sh.batch) == max {
					return false
				}
				sh.batch = append(sh.batch, usage.Record{})
				rec := &sh.batch[len(sh.batch)-1]
				if decodeRecord(payload, rec) {
					return true
				}
				*rec = usage.Record{}
				if err := json.Unmarshal(payload, rec); err != nil {
					// The CRC matched, so the bytes are what Append wrote;
					// only a bug writes a frame it cannot read back.
					sh.batch = sh.batch[:len(sh.batch)-1]
					skipped++
					s.log.Error("usage spool: skipping a record that does not decode", "segment", name, "offset", off, "err", err)
				}
				return true
			},
			func(from, to int64) {
				s.log.Error("usage spool: skipping corrupt bytes; any records in them are lost",
					"segment", name, "from", from, "to", to)
			})
		if err != nil {
			return next, skipped, fmt.Errorf("spool: read %s: %w", name, err)
		}
	}
	return next, skipped, nil
}

// segmentFrom returns the first segment numbered seq or later.
func (s *Spool) segmentFrom(seq uint64) (segment, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.segs {
		if g.seq >= seq {
			return g, true
		}
	}
	return segment{}, false
}

func (sh *shipper) reader(dir string, seq uint64) (*os.File, error) {
	if sh.rf != nil && sh.rfSeq == seq {
		return sh.rf, nil
	}
	sh.closeReader()
	f, err := os.Open(filepath.Join(dir, segmentName(seq)))
	if err != nil {
		return nil, fmt.Errorf("spool: open segment: %w", err)
	}
	sh.rf, sh.rfSeq = f, seq
	return f, nil
}

// advance moves the cursor to next once the records before it are shipped
// and saves it. The in-memory cursor moves even when saving fails, so this
// process does not ship the batch again; only a restart before the next good
// save would, and the sink absorbs that.
func (s *Spool) advance(next cursor) error {
	s.ship.cur = next
	s.mu.Lock()
	s.updateShippedLocked()
	s.mu.Unlock()
	return s.saveCheckpoint()
}

// saveCheckpoint makes the cursor durable if it moved, then deletes the
// segments it has left behind.
func (s *Spool) saveCheckpoint() error {
	sh := &s.ship
	if sh.saved == sh.cur {
		return nil
	}
	if err := writeCheckpoint(s.dir, s.dirf, sh.cur); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	sh.saved = sh.cur
	return s.dropShipped(sh.cur.seg)
}

// dropShipped deletes the segments before seq, whose records are all shipped
// and checkpointed. The checkpoint is durable before this runs, so a crash in
// between only leaves files that the next Open deletes.
func (s *Spool) dropShipped(seq uint64) error {
	s.mu.Lock()
	var drop []segment
	for _, g := range s.segs[:len(s.segs)-1] { // never the active one
		if g.seq < seq {
			drop = append(drop, g)
		}
	}
	s.mu.Unlock()
	if len(drop) == 0 {
		return nil
	}
	if s.ship.rf != nil && s.ship.rfSeq < seq {
		s.ship.closeReader()
	}
	var errs []error
	for _, g := range drop {
		if err := os.Remove(filepath.Join(s.dir, segmentName(g.seq))); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("spool: remove shipped segment: %w", err))
			continue
		}
		s.mu.Lock()
		for i := range s.segs {
			if s.segs[i].seq == g.seq {
				s.segs = append(s.segs[:i], s.segs[i+1:]...)
				break
			}
		}
		s.diskBytes.Add(-g.size)
		s.updateShippedLocked()
		s.dirDirty = true // the sync loop makes the deletions durable
		s.mu.Unlock()
	}
	return errors.Join(errs...)
}

// updateShippedLocked recomputes how many bytes on disk precede the cursor.
// It needs mu and shipMu (or a spool nobody else sees yet).
func (s *Spool) updateShippedLocked() {
	var n int64
	for _, g := range s.segs {
		switch {
		case g.seq < s.ship.cur.seg:
			n += g.size
		case g.seq == s.ship.cur.seg:
			n += min(g.size, s.ship.cur.off)
		}
	}
	s.shippedOnDisk.Store(n)
}

// Package spool is the gateway's durable usage spool: every answered request's
// usage.Record is appended to a local append-only file before the request
// finishes, and shipped to the database in batches from there.
//
// Durability comes in two steps. Append returns after one write(2) of the whole
// frame, so the record is in the kernel's page cache and survives the death of
// the process (SIGKILL, OOM kill, panic); a background loop fsyncs every
// SyncInterval, so a power loss costs at most that much. A disk that refuses
// a write or an fsync (ENOSPC, EIO) makes the spool fail closed: Full
// reports true, so the gateway admits nothing new, and the records of
// requests already under way wait in memory until the disk takes them
// (see Append). Shipping is
// at-least-once: the checkpoint advances only after the sink accepted a batch,
// and a crash between the two re-ships that batch, which the sink absorbs
// because it is idempotent by RequestID.
//
// On disk, Dir holds segment files seg-NNNNNNNNNNNNNNNN.log of length-prefixed,
// CRC-checked frames (see frame.go), a checkpoint file naming the first byte
// not yet shipped, and a lock file that keeps a second process out.
package spool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/oais/oais/internal/every"
	"github.com/oais/oais/internal/usage"
)

// Defaults for Options; MaxBytes must stay at least twice SegmentBytes (see
// Options.MaxBytes).
const (
	DefaultSegmentBytes = 16 << 20
	DefaultMaxBytes     = 1 << 30
	DefaultSyncInterval = 200 * time.Millisecond
)

var (
	// ErrFull is returned by Append when the spool holds MaxBytes on disk.
	// The record was not written; the gateway refuses the request rather than
	// serve traffic it cannot meter.
	ErrFull = errors.New("usage spool is full")
	// ErrClosed is returned by operations on a closed Spool.
	ErrClosed = errors.New("usage spool is closed")
	// ErrLocked is returned by Open when another process holds the directory.
	ErrLocked = errors.New("usage spool directory is in use by another process")
	// ErrRecordTooLarge is returned by Append for a record whose encoding
	// exceeds the frame limit (64 KiB); usage records are a few hundred bytes.
	ErrRecordTooLarge = errors.New("usage record too large for the spool")
	// ErrDiskFailing is wrapped by Err while the disk refuses the spool's
	// writes or fsyncs, and by Append when the records waiting in memory for
	// it already fill maxHeldBytes.
	ErrDiskFailing = errors.New("usage spool: the disk refuses writes")
)

// Options configures Open. Zero values take the defaults.
type Options struct {
	// Dir is the spool directory (OAIS_SPOOL_DIR); it is created if missing.
	Dir string
	// SegmentBytes is the size at which the active segment is sealed and a
	// new one started. Only whole segments are deleted once shipped.
	SegmentBytes int64
	// MaxBytes bounds the spool on disk; Append returns ErrFull beyond it.
	// Shipped bytes count until their segment is deleted, so it must be at
	// least twice SegmentBytes for shipping to always free room.
	MaxBytes int64
	// SyncInterval is how often appended records are fsynced: the window of
	// records a power loss (not a process crash) can take.
	SyncInterval time.Duration
	// Logger receives the spool's log lines; nil means slog.Default().
	Logger *slog.Logger
	// Registerer receives the oais_spool_* metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// WrapSegment, if set, is given every segment file the spool opens for
	// appending and returns what the spool writes through instead. Tests
	// use it to make the disk fail (ENOSPC, EIO); production leaves it nil.
	WrapSegment func(*os.File) SegmentFile
}

// SegmentFile is what the spool appends a segment through: the *os.File
// it opened, unless Options.WrapSegment put something in between.
type SegmentFile interface {
	io.Writer
	Truncate(size int64) error
	Sync() error
	Close() error
	Name() string
}

func (o Options) withDefaults() (Options, error) {
	if o.Dir == "" {
		return o, errors.New("spool: Options.Dir is empty")
	}
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = DefaultSegmentBytes
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.SyncInterval <= 0 {
		o.SyncInterval = DefaultSyncInterval
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.MaxBytes < 2*o.SegmentBytes {
		return o, fmt.Errorf("spool: Options.MaxBytes (%d) must be at least twice SegmentBytes (%d)", o.MaxBytes, o.SegmentBytes)
	}
	return o, nil
}

// segment is one segment file as the spool knows it.
type segment struct {
	seq uint64
	// size counts the bytes of whole, acknowledged frames. The reader never
	// reads past it, so it cannot see a frame that is still being written.
	size int64
}

func segmentName(seq uint64) string { return fmt.Sprintf("seg-%016d.log", seq) }

func parseSegmentName(name string) (uint64, bool) {
	digits, ok := strings.CutPrefix(name, "seg-")
	if !ok {
		return 0, false
	}
	if digits, ok = strings.CutSuffix(digits, ".log"); !ok || len(digits) != 16 {
		return 0, false
	}
	seq, err := strconv.ParseUint(digits, 10, 64)
	return seq, err == nil
}

// Spool is an open spool directory. Append is safe for concurrent use; Run and
// Flush serialise among themselves.
type Spool struct {
	dir  string
	opts Options
	log  *slog.Logger
	m    *metrics
	lock *os.File // holds the directory lock until Close
	dirf *os.File // the directory, for fsyncing entries

	// mu guards the write side and the segment list. Append holds it for one
	// write(2) and nothing slower; everything else holds it for bookkeeping.
	mu       sync.Mutex
	active   SegmentFile
	segs     []segment     // by seq; the last one is active
	dirty    bool          // active written since its last fsync
	dirDirty bool          // directory entries changed since the last fsync
	unsynced []SegmentFile // sealed segments awaiting their final fsync and close
	broken   bool          // active ends in a torn write we could not cut: rotate first
	closed   bool
	// held are whole frames whose write the disk refused, in order, waiting
	// for it to take them (at most maxHeldBytes); failErr is the disk's
	// last error while failing is set.
	held    []byte
	failErr error

	diskBytes      atomic.Int64 // sum of segment sizes on disk
	shippedOnDisk  atomic.Int64 // bytes still on disk before the ship cursor
	pendingRecords atomic.Int64 // appended and not yet shipped (approximate after corruption)
	full           atomic.Bool  // last Append was refused with ErrFull
	failing        atomic.Bool  // the disk refused a write or fsync and has not taken one since
	heldRecords    atomic.Int64 // records in held

	stopSync  context.CancelFunc
	syncDone  chan struct{}
	closeOnce sync.Once
	closeErr  error

	shipMu sync.Mutex
	ship   shipper // guarded by shipMu
}

// Open opens (creating if needed) the spool in opts.Dir, validates what is on
// disk and starts the fsync loop. Records not shipped by an earlier process
// are pending again and go out with the next Run or Flush.
func Open(ctx context.Context, opts Options) (*Spool, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("spool: create %s: %w", opts.Dir, err)
	}
	lock, err := lockDir(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("spool: lock %s: %w", opts.Dir, err)
	}
	s := &Spool{
		dir:      opts.Dir,
		opts:     opts,
		log:      opts.Logger,
		lock:     lock,
		syncDone: make(chan struct{}),
	}
	if err := s.recover(ctx); err != nil {
		s.closeFiles()
		return nil, err
	}
	if s.m, err = newMetrics(opts.Registerer, s); err != nil {
		s.closeFiles()
		return nil, err
	}
	syncCtx, stopSync := context.WithCancel(context.Background())
	s.stopSync = stopSync
	go s.syncLoop(syncCtx)
	return s, nil
}

// recover rebuilds the spool's state from the directory and starts a fresh
// active segment.
func (s *Spool) recover(ctx context.Context) error {
	var err error
	if s.dirf, err = os.Open(s.dir); err != nil {
		return fmt.Errorf("spool: open %s: %w", s.dir, err)
	}
	cur, err := readCheckpoint(s.dir)
	if err != nil && !errors.Is(err, errBadCheckpoint) {
		return fmt.Errorf("spool: read checkpoint: %w", err)
	}
	if err != nil {
		// Starting over re-ships what was shipped, which the sink absorbs;
		// refusing to start would stop the gateway over a 50-byte file.
		s.log.Error("usage spool: checkpoint unreadable; shipping everything on disk again", "dir", s.dir, "err", err)
		cur = cursor{}
	}
	_ = os.Remove(filepath.Join(s.dir, checkpointTemp)) // a write that never got renamed

	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("spool: read %s: %w", s.dir, err)
	}
	var seqs []uint64
	for _, e := range entries {
		if seq, ok := parseSegmentName(e.Name()); ok && e.Type().IsRegular() {
			seqs = append(seqs, seq)
		}
	}
	slices.Sort(seqs)

	var buf []byte
	var pending int64
	for i, seq := range seqs {
		if err := ctx.Err(); err != nil {
			return err
		}
		path := filepath.Join(s.dir, segmentName(seq))
		if seq < cur.seg {
			// Shipped and checkpointed; the process died before deleting it.
			if err := os.Remove(path); err != nil {
				return fmt.Errorf("spool: remove shipped segment: %w", err)
			}
			continue
		}
		size, records, err := s.checkSegment(path, seq, cur, i == len(seqs)-1, &buf)
		if err != nil {
			return err
		}
		if seq == cur.seg && cur.off > size {
			// Only a power loss can do this: the checkpoint was fsynced, the
			// tail of the segment it points into was not.
			s.log.Warn("usage spool: checkpoint points past the end of its segment; resuming at the end", "segment", segmentName(seq), "offset", cur.off, "size", size)
			cur.off = size
		}
		s.segs = append(s.segs, segment{seq: seq, size: size})
		s.diskBytes.Add(size)
		pending += records
	}

	// Appends always go to a new segment: the previous process's last segment
	// may end where it was cut off, and a fresh file keeps that question out
	// of the write path. The number continues past the checkpoint's, so a
	// new segment is never mistaken for a shipped one.
	next := cur.seg + 1
	if len(s.segs) > 0 {
		next = max(next, s.segs[len(s.segs)-1].seq+1)
	}
	if s.active, err = s.createSegment(next); err != nil {
		return err
	}
	s.segs = append(s.segs, segment{seq: next})
	if err := s.dirf.Sync(); err != nil {
		return fmt.Errorf("spool: fsync %s: %w", s.dir, err)
	}
	s.pendingRecords.Store(pending)
	s.ship.cur, s.ship.saved = cur, cur
	s.updateShippedLocked()
	if pending > 0 {
		s.log.Info("usage spool: unshipped records from an earlier run will be shipped", "records", pending, "bytes", s.diskBytes.Load()-s.shippedOnDisk.Load())
	}
	return nil
}

// checkSegment validates one existing segment from the checkpoint on and
// returns its size and how many records it holds past the checkpoint.
func (s *Spool) checkSegment(path string, seq uint64, cur cursor, last bool, buf *[]byte) (size int64, records int64, err error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, 0, fmt.Errorf("spool: open segment: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, 0, fmt.Errorf("spool: stat segment: %w", err)
	}
	size = st.Size()
	from := int64(0)
	if seq == cur.seg {
		from = min(cur.off, size)
	}
	tail := int64(-1)
	var corrupt int64
	_, err = scanFrames(f, from, size, buf,
		func(int64, []byte) bool { records++; return true },
		func(a, b int64) {
			if b == size && last {
				tail = a
				return
			}
			corrupt += b - a
		})
	if err != nil {
		return 0, 0, fmt.Errorf("spool: scan %s: %w", path, err)
	}
	if corrupt > 0 {
		s.log.Error("usage spool: segment holds corrupt data; the records in it cannot be recovered and will be skipped when shipping",
			"segment", filepath.Base(path), "corrupt_bytes", corrupt)
	}
	if tail >= 0 {
		// The last segment was being appended to when the previous process
		// stopped. A frame that does not check out at its end is a write(2)
		// that never completed (or a page the kernel never wrote back before a
		// power loss). Append returns only after its write(2) completes, so no
		// caller was ever told this record was kept: cutting it loses nothing
		// that was acknowledged.
		s.log.Warn("usage spool: truncating torn tail of last segment (a record whose write never completed)",
			"segment", filepath.Base(path), "offset", tail, "bytes", size-tail)
		if err := f.Truncate(tail); err != nil {
			return 0, 0, fmt.Errorf("spool: truncate torn tail of %s: %w", path, err)
		}
		if err := f.Sync(); err != nil {
			return 0, 0, fmt.Errorf("spool: fsync %s: %w", path, err)
		}
		size = tail
	}
	return size, records, nil
}

func (s *Spool) createSegment(seq uint64) (SegmentFile, error) {
	// O_APPEND keeps every write at the end even after a failed write was cut
	// back with Truncate.
	f, err := os.OpenFile(filepath.Join(s.dir, segmentName(seq)), os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("spool: create segment: %w", err)
	}
	if s.opts.WrapSegment != nil {
		return s.opts.WrapSegment(f), nil
	}
	return f, nil
}

// bufPool holds frame buffers. A usage record encodes to a few hundred
// bytes; buffers grown past maxPooledBuf by an odd record are dropped.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

const maxPooledBuf = 16 << 10

// Append writes rec to the spool. When it returns nil the record survives the
// death of this process; when it returns an error (ErrFull, ErrClosed,
// ErrDiskFailing) the record was not kept and the request should not be
// served as metered. Append does not keep rec: the caller may reuse it at
// once.
//
// A record the disk refuses (ENOSPC, EIO) is the record of a request that
// was already answered. Append then keeps it in memory (up to maxHeldBytes
// of them) and returns nil, and the spool fails closed: Full reports true,
// so no new request is admitted, until a probe of the sync loop writes the
// held records and fsyncs them. Only the death of the process in that
// window loses them.
//
// Append takes no context: it does one write(2) to a local file, which a
// context could not interrupt, and it runs once per request.
func (s *Spool) Append(rec *usage.Record) error {
	bp := bufPool.Get().(*[]byte)
	frame, err := appendRecord((*bp)[:frameHeader], rec)
	if err == nil && len(frame)-frameHeader > maxPayload {
		err = ErrRecordTooLarge
	}
	if err == nil {
		putHeader(frame)
		err = s.write(frame)
	}
	if cap(frame) <= maxPooledBuf {
		*bp = frame
		bufPool.Put(bp)
	}
	switch {
	case err == nil:
		s.m.appended.Inc()
		if s.full.Load() && s.full.CompareAndSwap(true, false) {
			s.log.Info("usage spool: space available again; accepting records")
		}
		return nil
	case errors.Is(err, ErrFull):
		s.m.fullRejections.Inc()
		if s.full.CompareAndSwap(false, true) {
			st := s.Stats()
			s.log.Error("usage spool: full; refusing new records (and so requests) until the database takes the backlog",
				"dir", s.dir, "disk_bytes", st.DiskBytes, "max_bytes", s.opts.MaxBytes, "pending_records", st.PendingRecords)
		}
		return err
	default:
		return fmt.Errorf("spool: append %s: %w", rec.RequestID, err)
	}
}

// maxHeldBytes bounds the frames held in memory while the disk fails. Only
// requests admitted before it failed append then, so it matches
// fullHeadroom, the room kept for them below MaxBytes (raise both together).
const maxHeldBytes = fullHeadroom

// write appends one whole frame with a single write(2), or holds it while
// the disk fails.
func (s *Spool) write(frame []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if !s.failing.Load() {
		err := s.writeLocked(frame, 1, true)
		if err == nil || errors.Is(err, ErrFull) {
			return err
		}
		s.failLocked("write", err)
	}
	if len(s.held)+len(frame) > maxHeldBytes {
		return fmt.Errorf("%w (%d records already wait in memory): %w", ErrDiskFailing, s.heldRecords.Load(), s.failErr)
	}
	s.held = append(s.held, frame...)
	s.heldRecords.Add(1)
	s.pendingRecords.Add(1)
	return nil
}

// writeLocked appends whole frames holding records records with a single
// write(2). bounded refuses them with ErrFull past MaxBytes; held frames
// are written regardless, their requests were answered already.
func (s *Spool) writeLocked(frames []byte, records int64, bounded bool) error {
	n := int64(len(frames))
	if bounded && s.diskBytes.Load()+n > s.opts.MaxBytes {
		return ErrFull
	}
	// A record larger than a whole segment still goes into one of its own.
	if act := s.segs[len(s.segs)-1]; s.broken || (act.size > 0 && act.size+n > s.opts.SegmentBytes) {
		if err := s.rotateLocked(); err != nil {
			return err
		}
	}
	act := &s.segs[len(s.segs)-1]
	if _, err := s.active.Write(frames); err != nil {
		// A partial write (ENOSPC) leaves a torn frame that the next
		// record would follow. Cut it off, or seal the segment so that the
		// tear becomes a corrupt stretch the reader skips.
		if terr := s.active.Truncate(act.size); terr != nil {
			s.broken = true
		}
		return err
	}
	act.size += n
	s.diskBytes.Add(n)
	s.pendingRecords.Add(records)
	s.dirty = true
	return nil
}

// failLocked puts the spool in the failing state after the disk refused op
// ("write", "fsync") with err. It logs the change of state, not every
// refusal: a failing disk under load would otherwise log a line per request.
func (s *Spool) failLocked(op string, err error) {
	s.m.diskErrors.Inc()
	s.failErr = err
	if s.failing.CompareAndSwap(false, true) {
		s.log.Error("usage spool: the disk failed; refusing new requests until it takes writes again (records of requests under way wait in memory)",
			"dir", s.dir, "op", op, "err", err)
	}
}

// probe tries the disk again while the spool is failing: it writes the held
// records and fsyncs the active segment. When both work the spool admits
// requests again; otherwise it stays failing, without another log line.
func (s *Spool) probe() {
	s.mu.Lock()
	written := s.heldRecords.Load()
	err := s.writeHeldLocked()
	// Fsync even when nothing new was written: an fsync error is what
	// failed, perhaps.
	s.dirty = true
	s.mu.Unlock()
	if err == nil {
		err = s.syncOnce()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		// Records held while this probe fsynced; they are fsynced on the
		// next tick like any other.
		written += s.heldRecords.Load()
		err = s.writeHeldLocked()
	}
	if err != nil {
		s.m.diskErrors.Inc()
		s.failErr = err
		return
	}
	s.failErr = nil
	s.failing.Store(false)
	s.log.Info("usage spool: the disk works again; accepting requests", "dir", s.dir, "records_written_from_memory", written)
}

// writeHeldLocked writes the held frames in one write(2).
func (s *Spool) writeHeldLocked() error {
	if len(s.held) == 0 {
		return nil
	}
	// The held records are counted as pending already.
	if err := s.writeLocked(s.held, 0, false); err != nil {
		return err
	}
	s.held = nil
	s.heldRecords.Store(0)
	return nil
}

// rotateLocked seals the active segment and starts the next one. The sealed
// file's last fsync is left to the sync loop so that no appender waits on it.
func (s *Spool) rotateLocked() error {
	next := s.segs[len(s.segs)-1].seq + 1
	f, err := s.createSegment(next)
	if err != nil {
		return err
	}
	s.unsynced = append(s.unsynced, s.active)
	s.active = f
	s.segs = append(s.segs, segment{seq: next})
	s.dirty, s.dirDirty, s.broken = false, true, false
	return nil
}

func (s *Spool) syncLoop(ctx context.Context) {
	defer close(s.syncDone)
	every.Run(ctx, s.opts.SyncInterval, func(context.Context) {
		if s.failing.Load() {
			s.probe()
			return
		}
		if err := s.syncOnce(); err != nil {
			// Records appended since the last good fsync may not survive
			// a power loss, and the next ones might not either: fail closed.
			s.mu.Lock()
			s.failLocked("fsync", err)
			s.mu.Unlock()
		}
	})
}

// syncOnce fsyncs what was written since the last call. It holds mu only to
// take the work, never across an fsync.
func (s *Spool) syncOnce() error {
	s.mu.Lock()
	active, dirty := s.active, s.dirty
	sealed, dirDirty := s.unsynced, s.dirDirty
	s.dirty, s.unsynced, s.dirDirty = false, nil, false
	s.mu.Unlock()

	var errs []error
	for _, f := range sealed {
		if err := f.Sync(); err != nil {
			errs = append(errs, fmt.Errorf("fsync %s: %w", f.Name(), err))
		}
		if err := f.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if dirty {
		if err := active.Sync(); err != nil {
			errs = append(errs, fmt.Errorf("fsync %s: %w", active.Name(), err))
			s.mu.Lock()
			s.dirty = true
			s.mu.Unlock()
		}
	}
	if dirDirty || len(sealed) > 0 {
		if err := s.dirf.Sync(); err != nil {
			errs = append(errs, fmt.Errorf("fsync %s: %w", s.dir, err))
		}
	}
	err := errors.Join(errs...)
	if err != nil {
		s.m.syncErrors.Inc()
	}
	return err
}

// Close fsyncs and closes the spool. Stop Run and Flush first: Close waits for
// a shipping pass in progress.
func (s *Spool) Close() error {
	s.closeOnce.Do(func() {
		s.stopSync()
		<-s.syncDone
		var errs []error
		s.mu.Lock()
		if held := s.heldRecords.Load(); held > 0 {
			if err := s.writeHeldLocked(); err != nil {
				errs = append(errs, fmt.Errorf("spool: %d records held in memory since the disk failed are lost: %w", held, err))
			}
		}
		s.closed = true
		s.mu.Unlock()
		if err := s.syncOnce(); err != nil {
			errs = append(errs, fmt.Errorf("spool: fsync on close: %w", err))
		}
		s.shipMu.Lock()
		s.ship.closeReader()
		s.shipMu.Unlock()
		s.m.unregister()
		errs = append(errs, s.closeFiles())
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// closeFiles closes what Open opened; the lock goes last.
func (s *Spool) closeFiles() error {
	var errs []error
	closeFile := func(f io.Closer) {
		if err := f.Close(); err != nil && !errors.Is(err, fs.ErrClosed) {
			errs = append(errs, err)
		}
	}
	if s.active != nil {
		closeFile(s.active)
	}
	for _, f := range []*os.File{s.dirf, s.lock} {
		if f != nil {
			closeFile(f)
		}
	}
	return errors.Join(errs...)
}

// Stats is a snapshot of the spool's backlog.
type Stats struct {
	// PendingRecords counts records appended and not yet shipped. It is
	// approximate when corrupt data was skipped.
	PendingRecords int64
	// PendingBytes counts the bytes on disk not yet shipped.
	PendingBytes int64
	// DiskBytes counts every segment byte on disk, shipped or not; it is
	// what Options.MaxBytes bounds.
	DiskBytes int64
}

// Stats returns the spool's backlog, for /readyz and tests. It takes no lock.
func (s *Spool) Stats() Stats {
	disk := s.diskBytes.Load()
	return Stats{
		PendingRecords: max(0, s.pendingRecords.Load()),
		PendingBytes:   max(0, disk-s.shippedOnDisk.Load()),
		DiskBytes:      disk,
	}
}

// fullHeadroom is kept free below MaxBytes once Full reports true, so the
// requests already admitted can still append their records (16 in-flight
// records of the 64 KiB maximum; real records are a few hundred bytes).
const fullHeadroom = 1 << 20

// Full reports whether a new request should be refused: the spool is close
// enough to MaxBytes, or its disk refuses writes. The gateway asks before
// admitting a request, so a record it must write later always has a place
// (fail closed, never unmetered). Err says which.
func (s *Spool) Full() bool {
	return s.failing.Load() || s.diskBytes.Load() >= s.opts.MaxBytes-fullHeadroom
}

// Err says why Full reports true: nil, ErrFull, or an error wrapping
// ErrDiskFailing and the disk's last error. It is for /readyz and logs.
func (s *Spool) Err() error {
	if s.failing.Load() {
		s.mu.Lock()
		err := s.failErr
		s.mu.Unlock()
		if err != nil {
			return fmt.Errorf("%w: %w", ErrDiskFailing, err)
		}
	}
	if s.diskBytes.Load() >= s.opts.MaxBytes-fullHeadroom {
		return ErrFull
	}
	return nil
}

package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// batcher coalesces concurrent reservations and settlements into shared
// round trips of at most two script calls (see exec). Every decision stays
// atomic and exact across replicas: Redis runs a script alone, and the
// reservation script decides its reservations one after the other; what is
// shared is the round trip (one write and one read on each side for
// however many calls were waiting, instead of one each) and Redis's
// per-command work.
//
// Up to maxSenders goroutines send; a call that finds one idle goes out at
// once (no added latency when idle), and calls that arrive while every
// sender is busy leave together with the next round trip. Senders start
// on demand and exit after senderIdle without work, so a Redis limiter
// needs no Close.
//
// Calls nobody waits for (settlements) cause no round trip of their own
// while others are made: they wait in pending and ride with the next
// batch, or, if none leaves within asyncDelay, go out on their own.
//
// On Redis Cluster a script call may only touch keys of one hash slot, so
// a batch is split by slot: one reservation call and one settlement call
// per slot, all in the same pipeline, which go-redis sends to each slot's
// master in parallel. A single server (or a Sentinel-managed one) keeps
// the two calls per round trip whatever the keys.
type batcher struct {
	client  redis.UniversalClient
	cluster bool // client is a *redis.ClusterClient: split batches by slot
	ops     chan *scriptOp
	senders atomic.Int32

	mu      sync.Mutex
	pending []*scriptOp
	flush   *time.Timer // armed while pending is not empty
	armed   bool

	// buckets, cumTTL (ms) and resTTL (µs) are the limiter's constants,
	// ARGV[1], ARGV[2] and ARGV[4] of every script call, boxed once.
	buckets, cumTTL, resTTL any
	calls                   sync.Pool // *call, for flushPending
}

const (
	// maxSenders bounds the round trips in flight per limiter. Two keep
	// one pipeline filling while the other is on the wire; more make
	// smaller batches for no less latency on a loaded machine.
	maxSenders = 2
	// maxBatch bounds one pipeline (and the wait of its last call).
	maxBatch = 128
	// senderIdle is how long a sender waits for work before it exits.
	senderIdle = 10 * time.Second
	// asyncDelay is the longest a queued call nobody waits for waits for a
	// batch to ride with. A settlement only corrects a reservation already
	// counted; it lands this much later at worst.
	asyncDelay = 2 * time.Millisecond
)

// scriptOp is one reservation or settlement waiting for its round trip.
// Ops come from opPool and go back once their caller has read the reply
// (a caller whose context ended first leaves its op to the collector: the
// batcher may still write to it).
type scriptOp struct {
	ctx    context.Context
	settle bool
	// keys are the counters' Redis names, boxed once per name
	// (keyName.key), so a call boxes none.
	keys []any
	// nums holds a reservation's quads (limit, window µs, cost, floor) or
	// a settlement's (window µs, reservation time µs, cost, actual), one
	// per key.
	nums []int64
	res  []int64 // a reservation's reply: 6 values, then 3 per key
	// slot is the Redis Cluster hash slot every key is in (set on a
	// cluster only).
	slot uint16
	err  error
	done chan struct{} // capacity 1: exec never blocks on a caller that left
	// onDone, for a call nobody waits for (runAsync), receives its error
	// (already classified) instead of done.
	onDone func(error)
}

var opPool = sync.Pool{New: func() any { return &scriptOp{done: make(chan struct{}, 1)} }}

// newOp returns an empty op from the pool.
func newOp(ctx context.Context, settle bool) *scriptOp {
	op := opPool.Get().(*scriptOp)
	op.ctx, op.settle = ctx, settle
	return op
}

// setSlot records the slot of names, the op's keys, or returns
// ErrCrossSlot if they are not all in one.
func (op *scriptOp) setSlot(names []*keyName) error {
	for _, n := range names {
		if n.slot != names[0].slot {
			return ErrCrossSlot
		}
	}
	if len(names) > 0 {
		op.slot = names[0].slot
	}
	return nil
}

// release puts op back in the pool, keeping its slices' room.
func release(op *scriptOp) {
	op.ctx, op.onDone, op.err, op.slot = nil, nil, nil, 0
	clear(op.keys)
	op.keys, op.nums, op.res = op.keys[:0], op.nums[:0], op.res[:0]
	opPool.Put(op)
}

func newBatcher(client redis.UniversalClient, o Options) *batcher {
	_, cluster := client.(*redis.ClusterClient)
	b := &batcher{client: client, cluster: cluster, ops: make(chan *scriptOp, 4*maxBatch),
		buckets: any(o.Buckets), cumTTL: any(o.CumulativeTTL.Milliseconds()), resTTL: any(o.ReservationTTL.Microseconds())}
	b.calls.New = func() any { return b.newCall() }
	b.flush = time.AfterFunc(time.Hour, b.flushPending)
	b.flush.Stop()
	return b
}

// run sends op with the next round trip and waits for it. If ctx ends
// first it returns ctx's error and mine false: op still belongs to the
// batcher. Otherwise op's reply is in op.res and op.err, and the caller
// releases op once it has read them.
func (b *batcher) run(ctx context.Context, op *scriptOp) (mine bool, err error) {
	select {
	case b.ops <- op:
	case <-ctx.Done():
		return true, ctx.Err()
	}
	if b.senders.Load() < maxSenders {
		b.startSender()
	}
	select {
	case <-op.done:
		return true, op.err
	case <-ctx.Done():
		// The call may still run in Redis, as a cancelled blocking call
		// could: the caller treats it as failed either way.
		return false, ctx.Err()
	}
}

// runAsync queues op, whose onDone is set, to ride with the next round
// trip; exec calls onDone and releases op.
func (b *batcher) runAsync(op *scriptOp) {
	b.mu.Lock()
	b.pending = append(b.pending, op)
	if !b.armed {
		b.armed = true
		b.flush.Reset(asyncDelay)
	}
	b.mu.Unlock()
}

// takePending appends the queued calls nobody waits for to batch.
func (b *batcher) takePending(batch []*scriptOp) []*scriptOp {
	b.mu.Lock()
	batch = append(batch, b.pending...)
	clear(b.pending)
	b.pending = b.pending[:0]
	b.mu.Unlock()
	return batch
}

// flushPending sends the queued calls that no batch took within
// asyncDelay, on the timer's goroutine.
func (b *batcher) flushPending() {
	b.mu.Lock()
	b.armed = false
	b.mu.Unlock()
	if batch := b.takePending(nil); len(batch) > 0 {
		c := b.calls.Get().(*call)
		b.exec(c, batch)
		b.calls.Put(c)
	}
}

// startSender starts a sender unless maxSenders are running.
func (b *batcher) startSender() {
	for {
		n := b.senders.Load()
		if n >= maxSenders {
			return
		}
		if b.senders.CompareAndSwap(n, n+1) {
			go b.send()
			return
		}
	}
}

func (b *batcher) send() {
	batch := make([]*scriptOp, 0, maxBatch)
	c := b.newCall()
	idle := time.NewTimer(senderIdle)
	defer idle.Stop()
	for {
		select {
		case op := <-b.ops:
			batch = append(batch[:0], op)
		fill:
			for len(batch) < maxBatch {
				select {
				case op := <-b.ops:
					batch = append(batch, op)
				default:
					break fill
				}
			}
			batch = b.takePending(batch)
			b.exec(c, batch)
			clear(batch)
			idle.Reset(senderIdle)
		case <-idle.C:
			b.senders.Add(-1)
			// A call queued just as this sender gave up must not wait for
			// the next one: take it back if there is room.
			if len(b.ops) == 0 {
				return
			}
			for {
				n := b.senders.Load()
				if n >= maxSenders {
					return
				}
				if b.senders.CompareAndSwap(n, n+1) {
					break
				}
			}
			idle.Reset(senderIdle)
		}
	}
}

// call is the room exec builds one round trip's script calls in, kept
// from batch to batch.
type call struct {
	pipe              redis.Pipeliner // empty between batches
	reserves, settles []*scriptOp
	buf               []byte
	// rcalls and scalls are the round trip's reservation and settlement
	// calls: one each, or one per slot on a cluster. Their args are whole
	// EVALSHA commands, built here rather than by go-redis's EvalSha,
	// which boxes every key name on every call; their room is kept.
	rcalls, scalls []scriptCall
}

// scriptCall is one EVALSHA of a batch and the ops it carries.
type scriptCall struct {
	ops  []*scriptOp // a run of call.reserves or call.settles
	args []any
	cmd  *redis.Cmd
}

// The scripts' hashes, boxed once.
var reserveSHA, settleSHA any = reserveScript.Hash(), settleScript.Hash()

// evalSha returns an EVALSHA of args (built by reserveCall or settleCall)
// as a command a pipeline or client can process.
func evalSha(ctx context.Context, args []any) *redis.Cmd {
	cmd := redis.NewCmd(ctx, args...)
	cmd.SetFirstKeyPos(3) // for Redis Cluster's slot
	return cmd
}

// evalAgain loads script and sends args again, for a Redis that lost its
// script cache (a restart; on a cluster, a failover to a fresh replica).
func (b *batcher) evalAgain(ctx context.Context, script *redis.Script, args []any) *redis.Cmd {
	if err := script.Load(ctx, b.client).Err(); err != nil {
		cmd := redis.NewCmd(ctx)
		cmd.SetErr(err)
		return cmd
	}
	cmd := evalSha(ctx, args)
	_ = b.client.Process(ctx, cmd)
	return cmd
}

func (b *batcher) newCall() *call { return &call{pipe: b.client.Pipeline()} }

// exec sends batch as one round trip: every reservation in one
// reserveScript call, which decides them one after the other exactly as
// separate calls would (Redis runs a script alone), and every settlement
// in one settleScript call, which applies each counter's adjustment on its
// own; on a cluster, one such pair per slot (see split). Numbers travel
// packed in one string argument and the reservations' replies come back in
// one string, so a batch costs a handful of allocations however many calls
// it carries.
func (b *batcher) exec(c *call, batch []*scriptOp) {
	c.reserves, c.settles = c.reserves[:0], c.settles[:0]
	for _, op := range batch {
		switch {
		case op.ctx.Err() != nil: // its caller left before it was sent
			op.err = op.ctx.Err()
		case op.settle:
			c.settles = append(c.settles, op)
		default:
			c.reserves = append(c.reserves, op)
		}
	}
	// No deadline of its own: the client's read and write timeouts bound
	// the round trip (go-redis applies them, not a context's deadline,
	// unless ContextTimeoutEnabled), and nobody can cancel a batch.
	ctx := context.Background()
	pipe := c.pipe
	c.rcalls = b.split(c.rcalls, c.reserves)
	c.scalls = b.split(c.scalls, c.settles)
	for i := range c.rcalls {
		sc := &c.rcalls[i]
		sc.args = b.reserveCall(c, sc.ops, sc.args[:0])
		sc.cmd = evalSha(ctx, sc.args)
		_ = pipe.Process(ctx, sc.cmd)
	}
	for i := range c.scalls {
		sc := &c.scalls[i]
		sc.args = b.settleCall(c, sc.ops, sc.args[:0])
		sc.cmd = evalSha(ctx, sc.args)
		_ = pipe.Process(ctx, sc.cmd)
	}
	if pipe.Len() > 0 {
		_, _ = pipe.Exec(ctx) // each command carries its own error
	}
	for i := range c.rcalls {
		sc := &c.rcalls[i]
		if isNoScript(sc.cmd.Err()) {
			sc.cmd = b.evalAgain(ctx, reserveScript, sc.args)
		}
		splitReplies(sc.cmd, sc.ops)
	}
	for i := range c.scalls {
		sc := &c.scalls[i]
		if isNoScript(sc.cmd.Err()) {
			sc.cmd = b.evalAgain(ctx, settleScript, sc.args)
		}
		err := sc.cmd.Err()
		for _, op := range sc.ops {
			op.err = err
		}
	}
	for _, op := range batch {
		if op.onDone == nil {
			op.done <- struct{}{}
			continue
		}
		done, err := op.onDone, op.err
		if err != nil {
			err = classify(context.Background(), err)
		}
		release(op)
		done(err)
	}
	clear(c.reserves)
	clear(c.settles)
	c.rcalls = clearCalls(c.rcalls)
	c.scalls = clearCalls(c.scalls)
}

// split fills calls (reusing its room) with the script calls that carry
// ops: none for no ops, one for all of them on a single server, and on a
// cluster one per slot, each a run of ops after a stable sort by slot, so
// reservations of one slot are still decided in the order they came.
func (b *batcher) split(calls []scriptCall, ops []*scriptOp) []scriptCall {
	calls = calls[:0]
	if len(ops) == 0 {
		return calls
	}
	if !b.cluster {
		return appendCall(calls, ops)
	}
	slices.SortStableFunc(ops, func(x, y *scriptOp) int { return int(x.slot) - int(y.slot) })
	start := 0
	for i := 1; i <= len(ops); i++ {
		if i == len(ops) || ops[i].slot != ops[start].slot {
			calls = appendCall(calls, ops[start:i])
			start = i
		}
	}
	return calls
}

// appendCall appends a call carrying ops, reusing the room of an entry
// past len(calls) if there is one.
func appendCall(calls []scriptCall, ops []*scriptOp) []scriptCall {
	if len(calls) < cap(calls) {
		calls = calls[:len(calls)+1]
		calls[len(calls)-1].ops = ops
		return calls
	}
	return append(calls, scriptCall{ops: ops})
}

// clearCalls drops what calls point to (ops, boxed arguments, replies)
// and keeps the room of their argument slices.
func clearCalls(calls []scriptCall) []scriptCall {
	for i := range calls {
		clear(calls[i].args)
		calls[i].ops, calls[i].args, calls[i].cmd = nil, calls[i].args[:0], nil
	}
	return calls[:0]
}

// reserveCall is the EVALSHA of reserveScript for ops, appended to args:
// ARGV[3] packs their number G, their key counts, then every key's quad.
func (b *batcher) reserveCall(c *call, ops []*scriptOp, args []any) []any {
	buf := strconv.AppendInt(c.buf[:0], int64(len(ops)), 10)
	n := 0
	for _, op := range ops {
		buf = strconv.AppendInt(append(buf, ' '), int64(len(op.keys)), 10)
		n += len(op.keys)
	}
	args = append(args, "evalsha", reserveSHA, n)
	for _, op := range ops {
		args = append(args, op.keys...)
		buf = appendNums(buf, op.nums)
	}
	c.buf = buf
	return append(args, b.buckets, b.cumTTL, string(buf), b.resTTL)
}

// settleCall is the EVALSHA of settleScript for ops, appended to args:
// ARGV[3] packs every key's quad.
func (b *batcher) settleCall(c *call, ops []*scriptOp, args []any) []any {
	n := 0
	for _, op := range ops {
		n += len(op.keys)
	}
	args = append(args, "evalsha", settleSHA, n)
	buf := c.buf[:0]
	for _, op := range ops {
		args = append(args, op.keys...)
		buf = appendNums(buf, op.nums)
	}
	c.buf = buf
	return append(args, b.buckets, b.cumTTL, string(buf), b.resTTL)
}

func appendNums(buf []byte, nums []int64) []byte {
	for _, n := range nums {
		if len(buf) > 0 {
			buf = append(buf, ' ')
		}
		buf = strconv.AppendInt(buf, n, 10)
	}
	return buf
}

// splitReplies hands each of ops its part of a reserveScript reply: one
// string of integers, 6 + 3 per key for each reservation in order.
func splitReplies(cmd *redis.Cmd, ops []*scriptOp) {
	s, err := cmd.Text()
	for _, op := range ops {
		if err != nil {
			op.err = err
			continue
		}
		n := 6 + 3*len(op.keys)
		res := op.res[:0]
		for range n {
			var v int64
			if v, s, err = nextInt(s); err != nil {
				op.err = err
				break
			}
			res = append(res, v)
		}
		op.res = res
	}
	if err == nil && s != "" {
		err = fmt.Errorf("ratelimit: redis: reserve reply has values left over: %.40q", s)
		for _, op := range ops {
			op.err = err
		}
	}
}

// nextInt parses the integer at the start of s (after one space, unless
// at the start) and returns the rest.
func nextInt(s string) (int64, string, error) {
	s = strings.TrimPrefix(s, " ")
	i := strings.IndexByte(s, ' ')
	if i < 0 {
		i = len(s)
	}
	v, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil {
		return 0, s, fmt.Errorf("ratelimit: redis: reserve reply: %w", err)
	}
	return v, s[i:], nil
}

func isNoScript(err error) bool {
	if err == nil {
		return false // before reply, which escapes: no allocation per call
	}
	var reply redis.Error
	return errors.As(err, &reply) && strings.HasPrefix(reply.Error(), "NOSCRIPT")
}

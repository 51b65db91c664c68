package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// batcher coalesces concurrent script calls into pipelined round trips.
// Every decision stays atomic and exact across replicas: Redis runs a
// pipeline's scripts one after the other, and a merged call (exec) decides
// its reservations one after the other too; what is shared is the round
// trip (one write and one read on each side for however many calls were
// waiting, instead of one each) and, for merged calls, Redis's per-command
// work.
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
type batcher struct {
	client  redis.UniversalClient
	ops     chan *scriptOp
	senders atomic.Int32

	mu      sync.Mutex
	pending []*scriptOp
	flush   *time.Timer // armed while pending is not empty
	armed   bool
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
	// batchTimeout bounds a pipeline whose callers all went away; go-redis's
	// own read and write timeouts normally end it first.
	batchTimeout = 30 * time.Second
	// asyncDelay is the longest a queued call nobody waits for waits for a
	// batch to ride with. A settlement only corrects a reservation already
	// counted; it lands this much later at worst.
	asyncDelay = 2 * time.Millisecond
)

// scriptOp is one script call waiting for its round trip.
type scriptOp struct {
	ctx    context.Context
	script *redis.Script
	keys   []string
	args   []any
	slice  bool // the reply is an integer array, wanted in res
	res    []int64
	err    error
	done   chan struct{}
	// onDone, for a call nobody waits for (runAsync), receives its error
	// instead of done; such calls carry no reply.
	onDone func(error)
	merged bool // exec sent it inside a merged call
}

func newBatcher(client redis.UniversalClient) *batcher {
	b := &batcher{client: client, ops: make(chan *scriptOp, 4*maxBatch)}
	b.flush = time.AfterFunc(time.Hour, b.flushPending)
	b.flush.Stop()
	return b
}

// run sends one script call with the next round trip and returns its
// reply: an integer array if slice, else nothing.
func (b *batcher) run(ctx context.Context, s *redis.Script, keys []string, args []any, slice bool) ([]int64, error) {
	op := &scriptOp{ctx: ctx, script: s, keys: keys, args: args, slice: slice, done: make(chan struct{})}
	select {
	case b.ops <- op:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if b.senders.Load() < maxSenders {
		b.startSender()
	}
	select {
	case <-op.done:
		return op.res, op.err
	case <-ctx.Done():
		// The call may still run in Redis, as a cancelled blocking call
		// could: the caller treats it as failed either way.
		return nil, ctx.Err()
	}
}

// runAsync queues a call of s that nobody waits for; onDone gets its
// error once it ran (see exec for how such calls are merged).
func (b *batcher) runAsync(s *redis.Script, keys []string, args []any, onDone func(error)) {
	op := &scriptOp{ctx: context.Background(), script: s, keys: keys, args: args, onDone: onDone}
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
		b.exec(batch, nil)
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
	cmds := make([]*redis.Cmd, 0, maxBatch)
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
			cmds = b.exec(batch, cmds[:0])
			clear(batch)
			clear(cmds)
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

// exec sends batch as one pipeline and completes each call. Calls are
// merged where that changes nothing but the number of commands: waiting
// reserves go out as one reserveManyScript call, which decides them one
// after the other exactly as separate calls would (Redis runs a
// pipeline's scripts one after the other anyway); queued settlements as
// one settleScript call, which applies each key's triplet on its own.
// Their first two ARGV are the limiter's constants, the same in every call
// of one batcher.
func (b *batcher) exec(batch []*scriptOp, cmds []*redis.Cmd) []*redis.Cmd {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	pipe := b.client.Pipeline()
	var reserves []*scriptOp
	var settles *scriptOp // the first queued settlement, carrying the others
	for _, op := range batch {
		op.merged = false
		switch {
		case op.ctx.Err() != nil:
			// Its caller left before it was sent.
		case op.onDone == nil && op.script == reserveScript:
			op.merged = true
			reserves = append(reserves, op)
		case op.onDone != nil && op.script == settleScript:
			op.merged = true
			if settles == nil {
				settles = op
			} else {
				settles.keys = append(settles.keys, op.keys...)
				settles.args = append(settles.args, op.args[2:]...)
			}
		}
	}
	if len(reserves) == 1 {
		reserves[0].merged = false // alone, it goes as it is
		reserves = nil
	}
	for _, op := range batch {
		if op.merged || op.ctx.Err() != nil {
			cmds = append(cmds, nil)
			continue
		}
		cmds = append(cmds, op.script.EvalSha(ctx, pipe, op.keys, op.args...))
	}
	var manyKeys []string
	var manyArgs []any
	var manyCmd, settleCmd *redis.Cmd
	if reserves != nil {
		manyKeys, manyArgs = reserveManyCall(reserves)
		manyCmd = reserveManyScript.EvalSha(ctx, pipe, manyKeys, manyArgs...)
	}
	if settles != nil {
		settleCmd = settleScript.EvalSha(ctx, pipe, settles.keys, settles.args...)
	}
	if pipe.Len() > 0 {
		_, _ = pipe.Exec(ctx) // each command carries its own error
	}
	// Redis lost its script cache (a restart): Run loads it again.
	if manyCmd != nil && isNoScript(manyCmd.Err()) {
		manyCmd = reserveManyScript.Run(ctx, b.client, manyKeys, manyArgs...)
	}
	if settleCmd != nil && isNoScript(settleCmd.Err()) {
		settleCmd = settleScript.Run(ctx, b.client, settles.keys, settles.args...)
	}
	if manyCmd != nil {
		splitReplies(manyCmd, reserves)
	}
	for i, op := range batch {
		cmd := cmds[i]
		switch {
		case op.merged && op.onDone != nil:
			op.err = settleCmd.Err()
		case op.merged:
			// splitReplies set res and err.
		case cmd == nil:
			op.err = op.ctx.Err()
		case isNoScript(cmd.Err()):
			op.res, op.err = reply(op.script.Run(ctx, b.client, op.keys, op.args...), op.slice)
		default:
			op.res, op.err = reply(cmd, op.slice)
		}
		if op.onDone != nil {
			op.onDone(op.err)
		} else {
			close(op.done)
		}
	}
	return cmds
}

// reserveManyCall is reserveManyScript's keys and arguments for ops, each
// a reserveScript call.
func reserveManyCall(ops []*scriptOp) ([]string, []any) {
	nk := 0
	for _, op := range ops {
		nk += len(op.keys)
	}
	keys := make([]string, 0, nk)
	args := make([]any, 0, 3+len(ops)+3*nk)
	args = append(args, ops[0].args[0], ops[0].args[1], len(ops))
	for _, op := range ops {
		args = append(args, len(op.keys))
	}
	for _, op := range ops {
		keys = append(keys, op.keys...)
		args = append(args, op.args[2:]...)
	}
	return keys, args
}

// splitReplies hands each of ops its part of a reserveManyScript reply.
func splitReplies(cmd *redis.Cmd, ops []*scriptOp) {
	vals, err := cmd.Slice()
	if err == nil && len(vals) != len(ops) {
		err = fmt.Errorf("ratelimit: redis: %d replies for %d reservations", len(vals), len(ops))
	}
	if err != nil {
		for _, op := range ops {
			op.err = err
		}
		return
	}
	for i, op := range ops {
		arr, ok := vals[i].([]any)
		if !ok {
			op.err = fmt.Errorf("ratelimit: redis: reservation reply is %T", vals[i])
			continue
		}
		res := make([]int64, len(arr))
		for j, v := range arr {
			if res[j], ok = v.(int64); !ok {
				op.err = fmt.Errorf("ratelimit: redis: reservation reply holds %T", v)
				break
			}
		}
		if op.err == nil {
			op.res = res
		}
	}
}

func isNoScript(err error) bool {
	var reply redis.Error
	return err != nil && errors.As(err, &reply) && strings.HasPrefix(reply.Error(), "NOSCRIPT")
}

func reply(cmd *redis.Cmd, slice bool) ([]int64, error) {
	if !slice {
		return nil, cmd.Err()
	}
	return cmd.Int64Slice()
}

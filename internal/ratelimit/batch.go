package ratelimit

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// batcher coalesces concurrent script calls into pipelined round trips.
// Each call is still its own EVALSHA, so every decision stays atomic and
// exact across replicas (Redis runs a pipeline's scripts one after the
// other); what is shared is the round trip: one write and one read on
// each side for however many calls were waiting, instead of one each.
//
// Up to maxSenders goroutines send; a call that finds one idle goes out at
// once (no added latency when idle), and calls that arrive while every
// sender is busy leave together with the next round trip. Senders start
// on demand and exit after senderIdle without work, so a Redis limiter
// needs no Close.
type batcher struct {
	client  redis.UniversalClient
	ops     chan *scriptOp
	senders atomic.Int32
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
}

func newBatcher(client redis.UniversalClient) *batcher {
	return &batcher{client: client, ops: make(chan *scriptOp, 4*maxBatch)}
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

// exec sends batch as one pipeline and completes each call.
func (b *batcher) exec(batch []*scriptOp, cmds []*redis.Cmd) []*redis.Cmd {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	pipe := b.client.Pipeline()
	for _, op := range batch {
		if op.ctx.Err() != nil {
			cmds = append(cmds, nil) // its caller left before it was sent
			continue
		}
		cmds = append(cmds, op.script.EvalSha(ctx, pipe, op.keys, op.args...))
	}
	if pipe.Len() > 0 {
		_, _ = pipe.Exec(ctx) // each command carries its own error
	}
	for i, op := range batch {
		cmd := cmds[i]
		switch {
		case cmd == nil:
			op.err = op.ctx.Err()
		case isNoScript(cmd.Err()):
			// Redis lost its script cache (a restart): Run loads it again.
			op.res, op.err = reply(op.script.Run(ctx, b.client, op.keys, op.args...), op.slice)
		default:
			op.res, op.err = reply(cmd, op.slice)
		}
		close(op.done)
	}
	return cmds
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

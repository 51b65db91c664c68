package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Defaults of OutboxOptions.
const (
	// DefaultOutboxSize bounds the messages waiting for delivery; past it a
	// message is dropped with an error in the log (the person asks again).
	DefaultOutboxSize = 1000
)

// DefaultRetries are the waits before each new try of a failed delivery.
var DefaultRetries = []time.Duration{2 * time.Second, 10 * time.Second, 30 * time.Second}

// OutboxOptions configures an Outbox. Zero fields take the defaults.
type OutboxOptions struct {
	Size    int
	Retries []time.Duration
	Logger  *slog.Logger
}

// Outbox delivers messages one at a time in the background and retries a
// failed delivery (DefaultRetries). Posting never blocks and never fails for
// the caller, so a request answers in the same time whether or not it sent
// a message. Messages still queued when the process is killed are lost;
// every message can be asked for again (resend an invitation, request
// another link), which is why there is no table of outgoing mail holding
// live links.
type Outbox struct {
	t       Transport
	log     *slog.Logger
	retries []time.Duration

	mu     sync.Mutex
	closed bool
	queue  chan Message

	ctx  context.Context // cancelled when Close gives up waiting
	stop context.CancelFunc
	done chan struct{}
}

// NewOutbox starts an Outbox delivering through t. Close it.
func NewOutbox(t Transport, opts OutboxOptions) *Outbox {
	if opts.Size <= 0 {
		opts.Size = DefaultOutboxSize
	}
	if opts.Retries == nil {
		opts.Retries = DefaultRetries
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	o := &Outbox{t: t, log: opts.Logger, retries: opts.Retries, queue: make(chan Message, opts.Size), done: make(chan struct{})}
	o.ctx, o.stop = context.WithCancel(context.Background())
	go o.run()
	return o
}

// Post queues m for delivery.
func (o *Outbox) Post(m Message) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		o.log.Error("mail: outbox closed, message dropped", slog.String("to", m.To), slog.String("subject", m.Subject))
		return
	}
	select {
	case o.queue <- m:
	default:
		o.log.Error("mail: outbox full, message dropped", slog.String("to", m.To), slog.String("subject", m.Subject), slog.Int("queued", cap(o.queue)))
	}
}

func (o *Outbox) run() {
	defer close(o.done)
	for m := range o.queue {
		if o.ctx.Err() == nil { // else abandoned: Close counts and logs them
			o.deliver(m)
		}
	}
}

// deliver tries m until it is delivered, the retries run out, or the
// outbox is stopped.
func (o *Outbox) deliver(m Message) {
	for try := 0; ; try++ {
		err := o.t.Deliver(o.ctx, m)
		if err == nil {
			o.log.Info("mail: delivered", slog.String("to", m.To), slog.String("subject", m.Subject))
			return
		}
		// The error names the server and the SMTP reply, never the message.
		attrs := []any{slog.String("to", m.To), slog.String("subject", m.Subject), slog.Int("try", try+1), slog.Any("error", err)}
		if errors.Is(err, ErrBadRecipient) || try >= len(o.retries) || o.ctx.Err() != nil {
			o.log.Error("mail: delivery failed, message dropped", attrs...)
			return
		}
		o.log.Warn("mail: delivery failed, will retry", append(attrs, slog.Duration("in", o.retries[try]))...)
		select {
		case <-time.After(o.retries[try]):
		case <-o.ctx.Done():
		}
	}
}

// Close stops taking messages and waits until the queued ones are delivered
// or ctx ends; then it abandons the rest (logging how many) and returns
// ctx's error.
func (o *Outbox) Close(ctx context.Context) error {
	o.mu.Lock()
	if !o.closed {
		o.closed = true
		close(o.queue)
	}
	o.mu.Unlock()
	select {
	case <-o.done:
		o.stop()
		return nil
	case <-ctx.Done():
	}
	left := len(o.queue)
	o.stop()
	<-o.done
	o.log.Error("mail: shut down with messages undelivered", slog.Int("dropped", left))
	return fmt.Errorf("mail: outbox: %w", ctx.Err())
}

package audit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// BatchSink stores events, many at a time (an audit table).
// AppendEvents must store all of events or none.
type BatchSink interface {
	AppendEvents(ctx context.Context, events []Event) error
}

// Policy says what Writer.Audit does when its buffer is full, because the
// sink is slower than the callers or failing.
type Policy int

const (
	// Block makes the caller wait for room, until its context ends; the
	// audited operation is slowed down, never unaudited.
	Block Policy = iota
	// FailClosed makes Audit fail at once with ErrBackpressure, so the
	// audited operation fails instead of waiting.
	FailClosed
)

// ErrBackpressure is returned by Audit under FailClosed when the buffer is
// full, and under Block when the caller's context ends while waiting.
var ErrBackpressure = errors.New("audit: writer buffer full (the sink is not keeping up)")

// ErrClosed is returned by Audit after Close.
var ErrClosed = errors.New("audit: writer closed")

// WriterOptions configure a Writer. Zero values take the defaults.
type WriterOptions struct {
	// Buffer is how many accepted events may wait for the goroutine
	// before the policy applies; default 4096. (The goroutine holds the
	// events it is storing besides.)
	Buffer        int
	Batch         int           // events per AppendEvents; default 256
	FlushInterval time.Duration // longest an event waits for a batch to fill; default 50 ms
	Policy        Policy
	// RetryBase and RetryMax bound the backoff between attempts to store a
	// batch the sink refused; defaults 50 ms and 5 s. A refused batch is
	// kept and retried until it is stored or the Writer is closed: events
	// are never dropped to make room.
	RetryBase, RetryMax time.Duration
	// OnSinkError, if set, is called with each error of the sink (for
	// metrics and alerts). The error is the sink's: make sure it holds no
	// event contents worth hiding (events hold none of the personal data).
	OnSinkError func(error)
}

// Writer batches events for a BatchSink on a goroutine of its own.
//
// Audit appends the event to a buffer under a mutex and returns; it wakes
// the goroutine only when a batch is full (or the flush interval passes),
// so that queuing an event costs the caller no more than an uncontended
// lock. The goroutine takes the whole buffer at once and stores it in
// batches of Batch events.
type Writer struct {
	sink BatchSink
	opt  WriterOptions

	mu       sync.Mutex
	buf      []Event // accepted, not yet taken by the goroutine
	spare    []Event // the goroutine's last batch, reused as the next buffer
	closed   bool
	pending  int // accepted, not yet stored
	lastErr  error
	room     *sync.Cond // broadcast when the buffer is taken, or on Close
	drained  *sync.Cond // broadcast when pending reaches 0
	kick     chan struct{}
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

// NewWriter starts a Writer. Close it to stop its goroutine.
func NewWriter(sink BatchSink, opt WriterOptions) *Writer {
	if opt.Buffer <= 0 {
		opt.Buffer = 4096
	}
	if opt.Batch <= 0 {
		opt.Batch = 256
	}
	if opt.FlushInterval <= 0 {
		opt.FlushInterval = 50 * time.Millisecond
	}
	if opt.RetryBase <= 0 {
		opt.RetryBase = 50 * time.Millisecond
	}
	if opt.RetryMax <= 0 {
		opt.RetryMax = 5 * time.Second
	}
	w := &Writer{sink: sink, opt: opt, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	w.room = sync.NewCond(&w.mu)
	w.drained = sync.NewCond(&w.mu)
	go w.run()
	return w
}

// Audit queues e. It returns once e is in the buffer, not once it is
// stored (use Flush for that). A full buffer is handled by the policy.
func (w *Writer) Audit(ctx context.Context, e Event) error {
	if err := e.Validate(); err != nil {
		return err
	}
	w.mu.Lock()
	if len(w.buf) >= w.opt.Buffer && !w.closed {
		if err := w.waitRoomLocked(ctx); err != nil {
			w.mu.Unlock()
			return err
		}
	}
	if w.closed {
		w.mu.Unlock()
		return ErrClosed
	}
	w.buf = append(w.buf, e)
	w.pending++
	full := len(w.buf) >= w.opt.Batch
	w.mu.Unlock()
	if full {
		w.wake()
	}
	return nil
}

// waitRoomLocked applies the policy to a full buffer: it returns at once
// under FailClosed, and waits for room under Block (or for Close, or for
// ctx to end).
func (w *Writer) waitRoomLocked(ctx context.Context) error {
	if w.opt.Policy == FailClosed {
		return fmt.Errorf("%w (policy: fail closed)", ErrBackpressure)
	}
	stop := context.AfterFunc(ctx, func() {
		w.mu.Lock()
		w.room.Broadcast()
		w.mu.Unlock()
	})
	defer stop()
	for len(w.buf) >= w.opt.Buffer && !w.closed {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%w: %w", ErrBackpressure, err)
		}
		w.room.Wait()
	}
	return nil
}

func (w *Writer) wake() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Pending returns how many accepted events are not yet stored.
func (w *Writer) Pending() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pending
}

// Err returns the sink's last error, nil once a batch was stored after it.
func (w *Writer) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastErr
}

// Flush waits until every event accepted before it is stored, or ctx ends.
func (w *Writer) Flush(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		w.mu.Lock()
		w.drained.Broadcast()
		w.mu.Unlock()
	})
	defer stop()
	w.wake() // store what is buffered now, not at the next interval
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.pending > 0 {
		if ctx.Err() != nil {
			return fmt.Errorf("audit: flush: %d events not stored yet (last sink error: %v): %w", w.pending, w.lastErr, ctx.Err())
		}
		w.drained.Wait()
	}
	return nil
}

// Close stops accepting events, stores what is buffered (retrying the
// sink until ctx ends) and stops the goroutine. If events remain unstored
// when ctx ends, Close says how many: they are lost, and the caller knows.
// Callers waiting for room under Block get ErrClosed.
func (w *Writer) Close(ctx context.Context) error {
	w.mu.Lock()
	w.closed = true
	w.room.Broadcast()
	w.mu.Unlock()
	err := w.Flush(ctx)
	w.stopOnce.Do(func() { close(w.stop) })
	<-w.done
	if err != nil {
		return fmt.Errorf("audit: close: %w", err)
	}
	return nil
}

func (w *Writer) run() {
	defer close(w.done)
	timer := time.NewTimer(w.opt.FlushInterval)
	defer timer.Stop()
	for {
		select {
		case <-w.kick:
		case <-timer.C:
			timer.Reset(w.opt.FlushInterval)
		case <-w.stop:
			return
		}
		w.mu.Lock()
		taken := w.buf
		w.buf, w.spare = w.spare[:0], nil
		w.room.Broadcast()
		w.mu.Unlock()
		for rest := taken; len(rest) > 0; {
			n := min(len(rest), w.opt.Batch)
			if !w.store(rest[:n]) {
				return
			}
			rest = rest[n:]
		}
		clear(taken) // drop the events' strings
		w.mu.Lock()
		if w.spare == nil && cap(taken) <= 2*w.opt.Buffer {
			w.spare = taken[:0]
		}
		w.mu.Unlock()
	}
}

// store writes batch, retrying with backoff until it is stored (true) or
// the Writer is stopped (false).
func (w *Writer) store(batch []Event) bool {
	wait := w.opt.RetryBase
	for {
		err := w.sink.AppendEvents(context.Background(), batch)
		w.mu.Lock()
		w.lastErr = err
		if err == nil {
			w.pending -= len(batch)
			if w.pending == 0 {
				w.drained.Broadcast()
			}
		}
		w.mu.Unlock()
		if err == nil {
			return true
		}
		if w.opt.OnSinkError != nil {
			w.opt.OnSinkError(err)
		}
		select {
		case <-time.After(wait):
		case <-w.stop:
			return false
		}
		wait = min(2*wait, w.opt.RetryMax)
	}
}

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
	Buffer        int           // events held before the policy applies; default 4096
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
type Writer struct {
	sink BatchSink
	opt  WriterOptions
	ch   chan Event

	mu       sync.Mutex
	closed   bool
	pending  int // accepted, not yet stored
	lastErr  error
	drained  *sync.Cond
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
	w := &Writer{sink: sink, opt: opt, ch: make(chan Event, opt.Buffer), stop: make(chan struct{}), done: make(chan struct{})}
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
	if w.closed {
		w.mu.Unlock()
		return ErrClosed
	}
	w.pending++
	w.mu.Unlock()
	select {
	case w.ch <- e:
		return nil
	default:
	}
	if w.opt.Policy == FailClosed {
		w.unpend(1)
		return fmt.Errorf("%w (policy: fail closed)", ErrBackpressure)
	}
	select {
	case w.ch <- e:
		return nil
	case <-ctx.Done():
		w.unpend(1)
		return fmt.Errorf("%w: %w", ErrBackpressure, ctx.Err())
	case <-w.stop:
		w.unpend(1)
		return ErrClosed
	}
}

func (w *Writer) unpend(n int) {
	w.mu.Lock()
	w.pending -= n
	if w.pending == 0 {
		w.drained.Broadcast()
	}
	w.mu.Unlock()
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
func (w *Writer) Close(ctx context.Context) error {
	w.mu.Lock()
	w.closed = true
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
	batch := make([]Event, 0, w.opt.Batch)
	timer := time.NewTimer(w.opt.FlushInterval)
	defer timer.Stop()
	for {
		select {
		case e := <-w.ch:
			batch = append(batch, e)
			if len(batch) < w.opt.Batch {
				continue
			}
		case <-timer.C:
			timer.Reset(w.opt.FlushInterval)
		case <-w.stop:
			return
		}
		if len(batch) == 0 {
			continue
		}
		if !w.store(batch) {
			return
		}
		batch = batch[:0]
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
		w.mu.Unlock()
		if err == nil {
			w.unpend(len(batch))
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

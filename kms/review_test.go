package kms_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/fieldcrypt/fieldcrypt/kms"
)

// Regression tests for findings L10 and L11 of the 2026-11 security review.

// throttled is an unavailable error carrying a Retry-After hint.
type throttled struct{ after time.Duration }

func (e throttled) Error() string             { return "throttled" }
func (e throttled) Unwrap() error             { return kms.ErrUnavailable }
func (e throttled) RetryAfter() time.Duration { return e.after }

// TestReviewL10RetryAfterIsCapped: a Retry-After of 24 h does not make Do
// wait 24 h. With Max = 100 ms (and MaxRetryAfter unset, so capped at Max)
// and a caller's deadline a minute away, Do waits at most 100 ms and tries
// again; before the fix it took the hint at its word, saw that it would
// outlive the deadline and gave up after one attempt.
func TestReviewL10RetryAfterIsCapped(t *testing.T) {
	p := kms.RetryPolicy{Attempts: 2, Base: time.Millisecond, Max: 100 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	calls := 0
	err := p.Do(ctx, func(context.Context) error {
		if calls++; calls == 1 {
			return throttled{24 * time.Hour}
		}
		return nil
	})
	if err != nil || calls != 2 {
		t.Fatalf("Do = %v after %d calls; want success on the 2nd call, the 24 h hint capped", err, calls)
	}
}

// TestReviewL10ContextEndsWhileWaiting: when the caller's context ends
// while Do waits to retry, the error says so (it wraps the context's error)
// as well as what failed last, and is not retryable.
func TestReviewL10ContextEndsWhileWaiting(t *testing.T) {
	p := kms.RetryPolicy{Attempts: 3, Base: time.Hour, Max: time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	err := p.Do(ctx, func(context.Context) error {
		calls++
		cancel() // the caller gives up during the backoff that follows
		return kms.Classify(kms.ErrUnavailable, errors.New("Vault answered 503"))
	})
	if calls != 1 || !errors.Is(err, kms.ErrUnavailable) || !errors.Is(err, context.Canceled) || kms.Retryable(err) {
		t.Errorf("Do = %v after %d calls; want the last failure and context.Canceled, not retryable", err, calls)
	}
}

// TestReviewL11TimeoutIsRetryable: an error a backend or the library marks
// with kms.Timeout (its own time limit expired, the caller's context is
// live) is unavailable, a timeout, retryable, and hides
// context.DeadlineExceeded; the caller's own deadline stays not retryable.
func TestReviewL11TimeoutIsRetryable(t *testing.T) {
	inner := &kms.Error{Op: "decrypt", Backend: "vault", KeyID: "vault:transit/k",
		Err: kms.Classify(kms.ErrUnavailable, fmt.Errorf("Post: %w", context.DeadlineExceeded))}
	if kms.Retryable(inner) {
		t.Fatal("an error wrapping context.DeadlineExceeded is retryable")
	}
	err := kms.Timeout(inner)
	if !kms.Retryable(err) || !errors.Is(err, kms.ErrTimeout) || !errors.Is(err, kms.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Timeout(%v): retryable %v, ErrTimeout %v, ErrUnavailable %v, DeadlineExceeded %v; want true, true, true, false",
			inner, kms.Retryable(err), errors.Is(err, kms.ErrTimeout), errors.Is(err, kms.ErrUnavailable), errors.Is(err, context.DeadlineExceeded))
	}
	var ke *kms.Error
	if !errors.As(err, &ke) || ke != inner {
		t.Errorf("errors.As does not find the *kms.Error inside a Timeout")
	}
	if got := err.Error(); got != "kms: timed out: "+inner.Error() {
		t.Errorf("message %q", got)
	}
	if err := kms.Timeout(nil); !errors.Is(err, kms.ErrTimeout) || !kms.Retryable(err) {
		t.Errorf("Timeout(nil) = %v", err)
	}

	// Do retries it.
	p := kms.RetryPolicy{Attempts: 3, Base: time.Millisecond, Max: time.Millisecond}
	calls := 0
	err = p.Do(context.Background(), func(context.Context) error {
		if calls++; calls < 3 {
			return kms.Timeout(inner)
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Errorf("Do = %v after %d calls; want a timeout retried", err, calls)
	}
}

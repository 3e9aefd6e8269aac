package kms

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// RetryPolicy retries KEK calls that fail with ErrUnavailable, with
// exponential backoff and full jitter, never past the caller's context.
// Refusals and authentication failures are never retried.
type RetryPolicy struct {
	Attempts int           // total attempts, including the first; < 1 means 1
	Base     time.Duration // first backoff ceiling
	Max      time.Duration // largest backoff ceiling

	// MaxRetryAfter is the longest wait a server's Retry-After hint (see
	// RetryAfterError) can ask for: a longer hint waits MaxRetryAfter. Zero
	// means Max, so that no wait is longer than Max unless set; a negative
	// value ignores hints.
	MaxRetryAfter time.Duration
}

// DefaultRetry is 4 attempts, backing off from 100 ms up to 2 s, and
// honouring a server's Retry-After up to 10 s.
var DefaultRetry = RetryPolicy{Attempts: 4, Base: 100 * time.Millisecond, Max: 2 * time.Second, MaxRetryAfter: 10 * time.Second}

// RetryAfterError is implemented by errors that carry a server's
// Retry-After hint.
type RetryAfterError interface {
	error
	RetryAfter() time.Duration
}

// Do calls op until it succeeds, fails with an error that is not
// retryable, runs out of attempts, or ctx ends. Between attempts it waits
// the computed backoff, or a server's Retry-After hint (see RetryAfterError)
// when that is longer, capped at MaxRetryAfter. If the wait would outlive
// ctx's deadline, Do returns the last failure at once; if ctx ends while Do
// waits, it returns an error wrapping both the last failure and ctx.Err().
func (p RetryPolicy) Do(ctx context.Context, op func(ctx context.Context) error) error {
	attempts := max(p.Attempts, 1)
	var err error
	for attempt := 0; attempt < attempts; attempt++ {
		if err = op(ctx); err == nil || !Retryable(err) || attempt == attempts-1 {
			return err
		}
		wait := p.delay(attempt, err)
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
			return err // waiting would outlive the caller: report the last failure
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (%w while waiting to retry)", err, ctx.Err())
		case <-t.C:
		}
	}
	return err
}

// delay is how long Do waits after the attempt-th failure, err.
func (p RetryPolicy) delay(attempt int, err error) time.Duration {
	wait := p.backoff(attempt)
	limit := p.MaxRetryAfter
	if limit == 0 {
		limit = p.Max
	}
	var ra RetryAfterError
	if limit > 0 && errors.As(err, &ra) && ra.RetryAfter() > wait {
		wait = min(ra.RetryAfter(), max(limit, wait))
	}
	return wait
}

func (p RetryPolicy) backoff(attempt int) time.Duration {
	ceiling := p.Base << attempt
	if ceiling <= 0 || (p.Max > 0 && ceiling > p.Max) {
		ceiling = p.Max
	}
	if ceiling <= 0 {
		return 0
	}
	return rand.N(ceiling) + 1
}

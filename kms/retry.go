package kms

import (
	"context"
	"errors"
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
}

// DefaultRetry is 4 attempts, backing off from 100 ms up to 2 s.
var DefaultRetry = RetryPolicy{Attempts: 4, Base: 100 * time.Millisecond, Max: 2 * time.Second}

// RetryAfterError is implemented by errors that carry a server's
// Retry-After hint.
type RetryAfterError interface {
	error
	RetryAfter() time.Duration
}

// Do calls op until it succeeds, fails with an error that is not
// retryable, runs out of attempts, or ctx ends. A Retry-After hint in the
// error (see RetryAfterError) replaces the computed backoff when it is
// longer, as long as it fits in what is left of ctx.
func (p RetryPolicy) Do(ctx context.Context, op func(ctx context.Context) error) error {
	attempts := max(p.Attempts, 1)
	var err error
	for attempt := 0; attempt < attempts; attempt++ {
		if err = op(ctx); err == nil || !Retryable(err) || attempt == attempts-1 {
			return err
		}
		wait := p.backoff(attempt)
		var ra RetryAfterError
		if errors.As(err, &ra) && ra.RetryAfter() > wait {
			wait = ra.RetryAfter()
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
			return err // waiting would outlive the caller: report the last failure
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
	return err
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

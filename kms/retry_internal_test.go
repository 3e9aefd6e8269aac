package kms

import (
	"testing"
	"time"
)

type hint time.Duration

func (h hint) Error() string             { return "throttled" }
func (h hint) Unwrap() error             { return ErrUnavailable }
func (h hint) RetryAfter() time.Duration { return time.Duration(h) }

// TestReviewL10RetryDelay (finding L10): the wait after a failure carrying
// a Retry-After hint is the hint, capped at MaxRetryAfter (by default Max),
// and never shorter than the backoff.
func TestReviewL10RetryDelay(t *testing.T) {
	ms := time.Millisecond
	for _, c := range []struct {
		p        RetryPolicy
		hint     time.Duration
		min, max time.Duration // the wait, inclusive
	}{
		{RetryPolicy{Base: ms, Max: 100 * ms}, 24 * time.Hour, 100 * ms, 100 * ms},
		{RetryPolicy{Base: ms, Max: 100 * ms}, 50 * ms, 50 * ms, 50 * ms},
		{RetryPolicy{Base: ms, Max: 100 * ms, MaxRetryAfter: 5 * time.Second}, time.Second, time.Second, time.Second},
		{RetryPolicy{Base: ms, Max: 100 * ms, MaxRetryAfter: 5 * time.Second}, 24 * time.Hour, 5 * time.Second, 5 * time.Second},
		{RetryPolicy{Base: ms, Max: 100 * ms, MaxRetryAfter: -1}, 24 * time.Hour, 1, ms},        // hints ignored
		{RetryPolicy{Base: time.Hour, Max: time.Hour, MaxRetryAfter: ms}, 2 * ms, 1, time.Hour}, // backoff kept
		{DefaultRetry, 24 * time.Hour, 10 * time.Second, 10 * time.Second},
		{DefaultRetry, 3 * time.Second, 3 * time.Second, 3 * time.Second},
	} {
		for range 50 { // the backoff is random
			if got := c.p.delay(0, hint(c.hint)); got < c.min || got > c.max {
				t.Fatalf("%+v, Retry-After %v: waits %v, want %v to %v", c.p, c.hint, got, c.min, c.max)
			}
		}
	}
}

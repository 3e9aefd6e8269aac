package kms_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/fieldcrypt/fieldcrypt/kms"
)

func TestRetryPolicy(t *testing.T) {
	p := kms.RetryPolicy{Attempts: 4, Base: time.Millisecond, Max: 5 * time.Millisecond}
	ctx := context.Background()

	calls := 0
	err := p.Do(ctx, func(context.Context) error { calls++; return kms.Classify(kms.ErrUnavailable, errors.New("down")) })
	if calls != 4 || !errors.Is(err, kms.ErrUnavailable) {
		t.Errorf("unavailable: %d calls, %v; want 4 and the last error", calls, err)
	}

	for _, class := range []error{kms.ErrRefused, kms.ErrAuthentication} {
		calls = 0
		err = p.Do(ctx, func(context.Context) error { calls++; return class })
		if calls != 1 || !errors.Is(err, class) {
			t.Errorf("%v was called %d times, want once (never retried)", class, calls)
		}
	}

	calls = 0
	err = p.Do(ctx, func(context.Context) error {
		calls++
		if calls < 3 {
			return kms.ErrUnavailable
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Errorf("recovering backend: %d calls, %v", calls, err)
	}

	// A deadline shorter than the backoff ends the retries at once.
	slow := kms.RetryPolicy{Attempts: 10, Base: time.Hour, Max: time.Hour}
	dctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	calls = 0
	slow.Do(dctx, func(context.Context) error { calls++; return kms.ErrUnavailable })
	if calls != 1 || time.Since(start) > time.Second {
		t.Errorf("with a short deadline: %d calls in %v", calls, time.Since(start))
	}
}

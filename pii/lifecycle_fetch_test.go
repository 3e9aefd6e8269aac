package pii_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fieldcrypt/fieldcrypt/kms"
	"github.com/fieldcrypt/fieldcrypt/kms/kmstest"
	"github.com/fieldcrypt/fieldcrypt/pii"
)

// TestReviewL11SlowKMSIsRetryable: a KMS slower than WithFetchTimeout is a
// retryable unavailability while the caller's context is alive; when the
// caller's own deadline ends the wait, the error says so and is not
// retryable.
func TestReviewL11SlowKMSIsRetryable(t *testing.T) {
	e := newEnv(t)
	recs := []Customer{sealed(t, e.p, "slow1", "x"), sealed(t, e.p, "slow2", "y")}
	p := e.protector(t, pii.WithFetchTimeout(20*time.Millisecond))
	p2 := e.protector(t, pii.WithFetchTimeout(time.Second))
	e.kek.SetLatency(time.Hour) // every KEK call waits for its context to end

	check := func(what string, err error) {
		t.Helper()
		if !kms.Retryable(err) || !errors.Is(err, pii.ErrFetchTimeout) || !errors.Is(err, kms.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s slower than the fetch timeout: %v (retryable=%v, deadline=%v); want a retryable ErrFetchTimeout without DeadlineExceeded",
				what, err, kms.Retryable(err), errors.Is(err, context.DeadlineExceeded))
		}
	}
	_, err := openErr(p, recs[0])
	check("Open", err)
	check("OpenAll", p.OpenAll(context.Background(), append([]Customer(nil), recs...)))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	x := recs[0]
	err = p2.Open(ctx, &x)
	if kms.Retryable(err) || !errors.Is(err, kms.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Open past the caller's own deadline: %v; want ErrUnavailable and DeadlineExceeded, not retryable", err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel2()
	err = p2.OpenAll(ctx2, append([]Customer(nil), recs...))
	if kms.Retryable(err) || !errors.Is(err, kms.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("OpenAll past the caller's own deadline: %v; want ErrUnavailable and DeadlineExceeded, not retryable", err)
	}
	e.kek.SetLatency(0)
}

// TestSingleFlightSharesOneUnwrap: N concurrent first loads of one subject
// make exactly one KMS call; the KEK holds the one unwrap until every
// caller is waiting, and any second unwrap fails the test at once.
func TestSingleFlightSharesOneUnwrap(t *testing.T) {
	const n = 16
	e := newEnv(t)
	c := sealed(t, e.p, "popular", "x")
	p := e.protector(t)
	var waiting sync.WaitGroup
	waiting.Add(n)
	p.SetWaitingHook(waiting.Done)
	allWaiting := make(chan struct{})
	go func() { waiting.Wait(); close(allWaiting) }()
	var calls atomic.Int64
	e.kek.ResetCounts()
	e.kek.SetFault(func(op kmstest.Op) error {
		if calls.Add(1) > 1 {
			return errors.New("a second KEK call for the same subject")
		}
		<-allWaiting
		return nil
	})
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if name, err := openErr(p, c); err != nil || name != "x" {
				t.Errorf("Open = %q, %v", name, err)
			}
		}()
	}
	wg.Wait()
	if d := e.kek.Calls(kmstest.OpDecrypt); d != 1 {
		t.Errorf("%d concurrent first loads made %d unwraps, want 1", n, d)
	}

	// The same for first Seals of a new subject: one wrap.
	calls.Store(0)
	e.kek.ResetCounts()
	waiting.Add(n)
	allWaiting2 := make(chan struct{})
	go func() { waiting.Wait(); close(allWaiting2) }()
	e.kek.SetFault(func(op kmstest.Op) error {
		if calls.Add(1) > 1 {
			return errors.New("a second KEK call for the same subject")
		}
		<-allWaiting2
		return nil
	})
	out := make([]Customer, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = Customer{ID: "newcomer", Email: "same@example.com"}
			if err := p.Seal(context.Background(), &out[i]); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if w := e.kek.Calls(kmstest.OpEncrypt); w != 1 {
		t.Errorf("%d concurrent first Seals made %d wraps, want 1", n, w)
	}
}

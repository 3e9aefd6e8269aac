package pii_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/fieldcrypt/fieldcrypt/pii"
)

func TestRetentionExpireAndErasureStatus(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	e := newEnv(t)
	ctx := context.Background()
	p := e.protector(t, pii.WithRetention(30*24*time.Hour), pii.WithClock(clock.Now), pii.WithBatchSize(2))

	for _, id := range []string{"short", "long", "kept-a", "kept-b", "kept-c"} {
		c := Customer{ID: id, Name: "x"}
		if err := p.Seal(ctx, &c); err != nil {
			t.Fatal(err)
		}
	}
	// "long" asks to be kept a year; "short" to go in a week.
	if err := p.SetRetention(ctx, "long", clock.Now().Add(365*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := p.SetRetention(ctx, "short", clock.Now().Add(7*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := p.SetRetention(ctx, "nobody", clock.Now()); !errors.Is(err, pii.ErrKeyNotFound) {
		t.Errorf("SetRetention(unknown) = %v, want ErrKeyNotFound", err)
	}

	receipts, err := p.Expire(ctx, clock.Now().Add(10*24*time.Hour), nil)
	if err != nil || len(receipts) != 1 || receipts[0].Reason != "retention" {
		t.Fatalf("Expire at day 10 = %+v, %v; want the one short-lived subject", receipts, err)
	}
	var progress []int
	receipts, err = p.Expire(ctx, clock.Now().Add(31*24*time.Hour), func(n int) { progress = append(progress, n) })
	if err != nil || len(receipts) != 3 {
		t.Fatalf("Expire at day 31 = %d receipts, %v; want the 3 default-retention subjects", len(receipts), err)
	}
	if len(progress) < 2 || progress[len(progress)-1] != 3 {
		t.Errorf("progress reports = %v, want batches of 2 ending at 3", progress)
	}
	for _, id := range []string{"short", "kept-a", "kept-b", "kept-c"} {
		c := Customer{ID: id, Name: "x"}
		if err := p.Seal(ctx, &c); !errors.Is(err, pii.ErrForgotten) {
			t.Errorf("Seal for expired %s = %v, want ErrForgotten", id, err)
		}
		st, err := p.ErasureStatus(ctx, id)
		if err != nil || !st.Erased || len(st.Receipts) != 1 || st.Receipts[0].Reason != "retention" || len(st.Receipts[0].KeyIDs) == 0 {
			t.Errorf("ErasureStatus(%s) = %+v, %v", id, st, err)
		}
	}
	c := Customer{ID: "long", Name: "x"}
	if err := p.Seal(ctx, &c); err != nil {
		t.Errorf("the subject kept for a year was erased: %v", err)
	}
	if st, err := p.ErasureStatus(ctx, "long"); err != nil || st.Erased || len(st.Receipts) != 0 {
		t.Errorf("ErasureStatus(long) = %+v, %v; want not erased", st, err)
	}
	// An erasure by request shows up too, with its reason.
	if _, err := p.Forget(ctx, "long"); err != nil {
		t.Fatal(err)
	}
	if st, _ := p.ErasureStatus(ctx, "long"); !st.Erased || len(st.Receipts) != 1 || st.Receipts[0].Reason != "request" {
		t.Errorf("ErasureStatus after Forget = %+v", st)
	}
	// Nothing left to expire, ever: the global keys have no deadline.
	if rs, err := p.Expire(ctx, clock.Now().Add(100*365*24*time.Hour), nil); err != nil || len(rs) != 0 {
		t.Errorf("Expire a century later = %d, %v", len(rs), err)
	}
	if _, err := pii.New(ctx, e.kek, e.store); err != nil {
		t.Errorf("global keys damaged by Expire: %v", err)
	}
}

package pii_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/fieldcrypt/fieldcrypt/keystore"
	"github.com/fieldcrypt/fieldcrypt/pii"
)

// extendAfterScan is a store on which, right after the first ScanExpired,
// another process extends the retention of one record: between Expire's
// scan and its delete.
type extendAfterScan struct {
	keystore.Store
	target string
	done   bool
}

func (s *extendAfterScan) ScanExpired(ctx context.Context, now time.Time, limit int) ([]keystore.Record, error) {
	recs, err := s.Store.ScanExpired(ctx, now, limit)
	if !s.done && err == nil {
		s.done = true
		rec, err := s.Store.Get(ctx, s.target)
		if err != nil {
			return nil, err
		}
		rec.RetainUntil = now.Add(365 * 24 * time.Hour)
		if _, err := s.Store.Update(ctx, rec); err != nil {
			return nil, err
		}
	}
	return recs, err
}

// TestReviewL5ExpireRespectsRetentionExtendedDuringRun: a subject whose
// retention was extended between Expire's scan and its delete is kept.
func TestReviewL5ExpireRespectsRetentionExtendedDuringRun(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	e := newEnv(t)
	p := e.protector(t, pii.WithRetention(24*time.Hour), pii.WithClock(clock.Now))
	sealed(t, p, "extended", "x")
	sealed(t, p, "expiring", "y")
	s := &extendAfterScan{Store: e.store, target: p.RecordID("extended")}
	receipts, err := pii.ExpireStore(ctx, s, clock.Now().Add(48*time.Hour), 10, nil)
	if err != nil || len(receipts) != 1 || receipts[0].Subject != p.RecordID("expiring") {
		t.Errorf("Expire = %+v, %v; want only the subject whose retention was not extended", receipts, err)
	}
	if st, err := p.ErasureStatus(ctx, "extended"); err != nil || st.Erased {
		t.Errorf("a subject whose retention was extended during Expire was erased: %+v, %v", st, err)
	}
}

// TestReviewL5ExpireEndsWithADeadlineOnTheGlobalRecord: a deadline set on
// the global record directly in the store neither erases it nor makes
// Expire scan the same batch forever.
func TestReviewL5ExpireEndsWithADeadlineOnTheGlobalRecord(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // guard only
	defer cancel()
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	e := newEnv(t)
	p := e.protector(t, pii.WithRetention(24*time.Hour), pii.WithClock(clock.Now), pii.WithBatchSize(1))
	sealed(t, p, "a", "x")
	sealed(t, p, "b", "y")
	g, err := e.store.Get(ctx, "fieldcrypt.global")
	if err != nil {
		t.Fatal(err)
	}
	g.RetainUntil = clock.Now().Add(-time.Hour) // soonest of all
	if _, err := e.store.Update(ctx, g); err != nil {
		t.Fatal(err)
	}
	receipts, err := p.Expire(ctx, clock.Now().Add(48*time.Hour), nil)
	if err != nil || len(receipts) != 2 {
		t.Errorf("Expire with a deadline on the global record = %d receipts, %v; want 2, <nil>", len(receipts), err)
	}
	if _, err := e.store.Get(ctx, "fieldcrypt.global"); err != nil {
		t.Errorf("the global record after Expire: %v", err)
	}
	if _, err := pii.New(ctx, e.kek, e.store); err != nil {
		t.Errorf("global keys damaged by Expire: %v", err)
	}
	_ = errors.New
}

package pii

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/fieldcrypt/fieldcrypt/internal/pgtest"
	"github.com/fieldcrypt/fieldcrypt/keystore"
	"github.com/fieldcrypt/fieldcrypt/keystore/postgres"
	"github.com/fieldcrypt/fieldcrypt/kms/kmstest"
)

// TestRetentionSweepThreeInstancesPostgres: three Protectors, each with its
// own pool on one PostgreSQL store. While one holds the sweep lock the
// others' runs are skipped; racing runs, then the three background sweeps,
// erase every expired subject exactly once (one receipt each), with no
// error.
func TestRetentionSweepThreeInstancesPostgres(t *testing.T) {
	dsn := pgtest.Schema(t)
	ctx := context.Background()
	kek := kmstest.New("test:1")
	var stores []*postgres.Store
	var ps []*Protector
	runs := make(chan SweepRun, 1000)
	var unlock func()
	for i := range 3 {
		s, err := postgres.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		if i == 0 {
			// Instance 0 holds the lock from the start: the others skip,
			// whatever they try, however long the setup takes.
			var ok bool
			if unlock, ok, err = s.TryLockSweep(ctx); !ok || err != nil {
				t.Fatal(ok, err)
			}
		}
		var opts []Option
		if i > 0 { // instances 1 and 2 sweep in the background
			opts = append(opts, WithRetentionSweepConfig(SweepConfig{Every: time.Second, OnRun: func(r SweepRun) { runs <- r }}), WithBatchSize(10))
		}
		p, err := New(ctx, kek, s, opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		stores, ps = append(stores, s), append(ps, p)
	}
	ids := expiredSubjects(t, ps[0], 60)
	for _, p := range ps[1:] {
		if r := p.RunRetentionSweep(ctx); !r.Skipped {
			t.Errorf("run while another instance holds the lock: %+v", r)
		}
	}
	for range 2 { // a background run of each: skipped
		if r := <-runs; !r.Skipped {
			t.Errorf("background run while locked: %+v", r)
		}
	}
	unlock()

	// Three instances race: every subject erased once.
	var wg sync.WaitGroup
	var mu sync.Mutex
	erased := 0
	for _, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := p.RunRetentionSweep(ctx)
			if r.Err != nil {
				t.Error(r.Err)
			}
			mu.Lock()
			erased += r.Erased
			mu.Unlock()
		}()
	}
	wg.Wait()
	// What a skipped racer left (none if the winner ran to the end) is
	// erased by the background sweeps.
	for erased < 60 {
		r := <-runs
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		erased += r.Erased
	}
	if erased != 60 {
		t.Errorf("%d erasures for 60 subjects", erased)
	}
	if n := checkWhole(t, ps[0], stores[0], ids); n != 60 {
		t.Errorf("%d erased", n)
	}
	recs, err := stores[0].Receipts(ctx, keystore.ReceiptQuery{Limit: 1000})
	if err != nil || len(recs) != 60 {
		t.Errorf("%d receipts, %v", len(recs), err)
	}
}

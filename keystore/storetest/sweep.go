package storetest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/fieldcrypt/fieldcrypt/keystore"
)

// testSweepLock: one holder at a time, released by unlock (which may be
// called twice), and many goroutines racing for it get it one at a time.
func testSweepLock(t *testing.T, s keystore.Store) {
	l, ok := s.(keystore.SweepLocker)
	if !ok {
		t.Skip("the store is not a keystore.SweepLocker")
	}
	ctx := context.Background()
	unlock, ok, err := l.TryLockSweep(ctx)
	if err != nil || !ok {
		t.Fatalf("first TryLockSweep = %v, %v", ok, err)
	}
	if _, ok, err := l.TryLockSweep(ctx); err != nil || ok {
		t.Fatalf("TryLockSweep while held = %v, %v, want false", ok, err)
	}
	unlock()
	unlock() // harmless
	unlock2, ok, err := l.TryLockSweep(ctx)
	if err != nil || !ok {
		t.Fatalf("TryLockSweep after unlock = %v, %v", ok, err)
	}
	unlock2()

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if u, ok, err := l.TryLockSweep(canceled); ok || err == nil {
		if u != nil {
			u()
		}
		t.Errorf("TryLockSweep on a canceled context = %v, %v", ok, err)
	}

	var holders, most atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				u, ok, err := l.TryLockSweep(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				if !ok {
					continue
				}
				n := holders.Add(1)
				for {
					m := most.Load()
					if n <= m || most.CompareAndSwap(m, n) {
						break
					}
				}
				holders.Add(-1)
				u()
			}
		}()
	}
	wg.Wait()
	if most.Load() != 1 {
		t.Errorf("%d holders at once", most.Load())
	}
}

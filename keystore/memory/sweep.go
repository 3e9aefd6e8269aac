package memory

import (
	"context"
	"sync"

	"github.com/fieldcrypt/fieldcrypt/keystore"
)

var _ keystore.SweepLocker = (*Store)(nil)

// TryLockSweep implements keystore.SweepLocker within this Store.
func (s *Store) TryLockSweep(ctx context.Context) (func(), bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	if !s.sweepMu.TryLock() {
		return nil, false, nil
	}
	var once sync.Once
	return func() { once.Do(s.sweepMu.Unlock) }, true, nil
}

package sqlite

import (
	"context"
	"sync"

	"github.com/fieldcrypt/fieldcrypt/keystore"
)

var _ keystore.SweepLocker = (*Store)(nil)

// sweepLocks are the sweep locks of the SQLite files open in this process,
// by path: every Store of one file shares one.
var sweepLocks sync.Map // string -> *sync.Mutex

// TryLockSweep implements keystore.SweepLocker within this process: two
// Stores of one file in this process never sweep at once. Other processes
// on the file are not excluded (overlapping sweeps are safe, see
// keystore.SweepLocker); run the background sweep in one of them.
func (s *Store) TryLockSweep(ctx context.Context) (func(), bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	v, _ := sweepLocks.LoadOrStore(s.path, new(sync.Mutex))
	mu := v.(*sync.Mutex)
	if !mu.TryLock() {
		return nil, false, nil
	}
	var once sync.Once
	return func() { once.Do(mu.Unlock) }, true, nil
}

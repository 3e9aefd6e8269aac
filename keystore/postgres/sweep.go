package postgres

import (
	"context"
	"fmt"
	"sync"

	"github.com/fieldcrypt/fieldcrypt/keystore"
)

var _ keystore.SweepLocker = (*Store)(nil)

// sweepLockQuery takes the advisory lock of the retention sweep, whose key
// is a hash of a label and the store's schema (current_schema(), from the
// search_path): key stores in different schemas of one database do not
// exclude each other.
const sweepLockQuery = `SELECT k, pg_try_advisory_lock(k)
	FROM (SELECT hashtextextended('fieldcrypt/retention-sweep/v1 ' || current_schema(), 0) AS k) q`

// TryLockSweep implements keystore.SweepLocker with a session-level
// advisory lock (pg_try_advisory_lock) on a connection taken from the pool
// and held until unlock: one holder across every process sharing the
// database. If the process dies, PostgreSQL ends the session and releases
// the lock.
func (s *Store) TryLockSweep(ctx context.Context) (func(), bool, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("keystore/postgres: sweep lock: %w", err)
	}
	var (
		key int64
		ok  bool
	)
	if err := conn.QueryRow(ctx, sweepLockQuery).Scan(&key, &ok); err != nil {
		conn.Release()
		return nil, false, fmt.Errorf("keystore/postgres: sweep lock: %w", err)
	}
	if !ok {
		conn.Release()
		return nil, false, nil
	}
	var once sync.Once
	unlock := func() {
		once.Do(func() {
			var released bool
			err := conn.QueryRow(context.Background(), `SELECT pg_advisory_unlock($1)`, key).Scan(&released)
			if err != nil || !released {
				// The session's state is unknown: close it, which
				// releases whatever it holds.
				conn.Conn().Close(context.Background())
			}
			conn.Release()
		})
	}
	return unlock, true, nil
}

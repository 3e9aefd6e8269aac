package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fieldcrypt/fieldcrypt/internal/pgtest"
)

// TestSweepLockAcrossInstances: the sweep lock excludes another instance
// (another pool) on the same schema, not one on another schema, and is
// released by the server when its holder's session ends (a crashed
// process).
func TestSweepLockAcrossInstances(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Schema(t)
	a, b, other := open(t, dsn), open(t, dsn), open(t, pgtest.Schema(t))
	unlock, ok, err := a.TryLockSweep(ctx)
	if err != nil || !ok {
		t.Fatalf("a: %v %v", ok, err)
	}
	defer unlock()
	if _, ok, err := b.TryLockSweep(ctx); err != nil || ok {
		t.Fatalf("b while a holds the lock: %v %v", ok, err)
	}
	u, ok, err := other.TryLockSweep(ctx)
	if err != nil || !ok {
		t.Fatalf("a store in another schema: %v %v", ok, err)
	}
	u()
	// The holder dies: the server ends its session.
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var killed int
	err = conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(l.pid)) FROM pg_locks l,
		(SELECT hashtextextended('fieldcrypt/retention-sweep/v1 ' || current_schema(), 0) AS k) q
		WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
		AND ((l.classid::bigint << 32) | l.objid::bigint) = q.k`).Scan(&killed)
	if err != nil || killed != 1 {
		t.Fatalf("terminating the holder's session: %d, %v", killed, err)
	}
	// pg_terminate_backend only signals the backend: the lock goes when it
	// has exited, a moment later.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		u, ok, err = b.TryLockSweep(ctx)
		if err == nil && ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("b after the holder's session ended: %v %v", ok, err)
		}
	}
	u()
}

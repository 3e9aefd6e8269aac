package pii_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fieldcrypt/fieldcrypt/audit"
	"github.com/fieldcrypt/fieldcrypt/internal/pgtest"
	"github.com/fieldcrypt/fieldcrypt/keystore/postgres"
	"github.com/fieldcrypt/fieldcrypt/kms/kmstest"
	"github.com/fieldcrypt/fieldcrypt/pii"
)

// pgAudit is a Protector on PostgreSQL whose events go to the store's
// audit table through a Writer with policy, and a way to stop the
// database's audit table (a transaction holding an exclusive lock on it:
// every append waits, as for a database that stopped answering).
func pgAudit(t *testing.T, policy audit.Policy) (p *pii.Protector, w *audit.Writer, table *pii.AuditTable, stop func() (resume func())) {
	t.Helper()
	ctx := context.Background()
	dsn := pgtest.Schema(t)
	store, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	kek := kmstest.New("test:1")
	p0, err := pii.New(ctx, kek, store)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p0.Close)
	if table, err = pii.NewAuditTable(p0); err != nil {
		t.Fatal(err)
	}
	w = audit.NewWriter(table, audit.WriterOptions{Buffer: 8, Batch: 4, FlushInterval: time.Millisecond, Policy: policy, RetryBase: time.Millisecond, RetryMax: 10 * time.Millisecond})
	t.Cleanup(func() { w.Close(context.Background()) })
	if p, err = pii.New(ctx, kek, store, pii.WithAuditor(w)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	stop = func() func() {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, `LOCK TABLE fieldcrypt_audit IN ACCESS EXCLUSIVE MODE`); err != nil {
			t.Fatal(err)
		}
		return func() {
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			conn.Close(ctx)
		}
	}
	return p, w, table, stop
}

// checkAllStored flushes w and checks that the table holds want events
// and verifies.
func checkAllStored(t *testing.T, w *audit.Writer, table *pii.AuditTable, want int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	head, err := table.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if head.Events != uint64(want) {
		t.Fatalf("%d events in the audit table, want every accepted one: %d", head.Events, want)
	}
}

// TestAuditBackpressureFailClosed: with the database stopped mid-run, Open
// fails with ErrBackpressure once the Writer's buffer is full, changing
// nothing; after the database is back, every event accepted is in the
// table and the chain verifies.
func TestAuditBackpressureFailClosed(t *testing.T) {
	p, w, table, stop := pgAudit(t, audit.FailClosed)
	ctx := context.Background()
	c := sampleCustomer("s1")
	if err := p.Seal(ctx, &c); err != nil {
		t.Fatal(err)
	}
	accepted := 1
	for range 5 {
		v := deepCopy(c)
		if err := p.Open(ctx, &v); err != nil {
			t.Fatal(err)
		}
		accepted++
	}
	resume := stop()
	refused := 0
	for i := 0; i < 10_000 && refused < 3; i++ {
		v := deepCopy(c)
		err := p.Open(ctx, &v)
		switch {
		case err == nil:
			accepted++
		case errors.Is(err, audit.ErrBackpressure) && errors.Is(err, pii.ErrAudit):
			refused++
			if !reflect.DeepEqual(v, c) {
				t.Fatal("an Open refused for backpressure changed the value")
			}
		default:
			t.Fatal(err)
		}
	}
	if refused == 0 {
		t.Fatal("the Writer never refused an event while the database was stopped")
	}
	resume()
	checkAllStored(t, w, table, accepted)
}

// TestAuditBackpressureBlock: under Block, with the database stopped, Open
// waits for room until its context ends (then fails, changing nothing);
// one waiting when the database comes back completes; every accepted
// event ends up in the table.
func TestAuditBackpressureBlock(t *testing.T) {
	p, w, table, stop := pgAudit(t, audit.Block)
	ctx := context.Background()
	c := sampleCustomer("s1")
	if err := p.Seal(ctx, &c); err != nil {
		t.Fatal(err)
	}
	resume := stop()
	// Fill the buffer: each Open below either is accepted or, once the
	// buffer is full, waits until its (short) context ends.
	accepted, blocked := 1, 0
	for i := 0; i < 100 && blocked == 0; i++ {
		short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		v := deepCopy(c)
		err := p.Open(short, &v)
		cancel()
		switch {
		case err == nil:
			accepted++
		case errors.Is(err, audit.ErrBackpressure) && errors.Is(err, context.DeadlineExceeded):
			blocked++
			if !reflect.DeepEqual(v, c) {
				t.Fatal("an Open that gave up waiting changed the value")
			}
		default:
			t.Fatal(err)
		}
	}
	if blocked == 0 {
		t.Fatal("no Open waited while the database was stopped")
	}
	// One more caller waits, without a deadline, until the database is
	// back.
	done := make(chan error, 1)
	go func() {
		v := deepCopy(c)
		done <- p.Open(ctx, &v)
	}()
	select {
	case err := <-done:
		t.Fatalf("Open returned (%v) while the buffer was full", err)
	case <-time.After(200 * time.Millisecond):
	}
	resume()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	accepted++
	checkAllStored(t, w, table, accepted)
}

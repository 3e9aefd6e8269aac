package pii_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/fieldcrypt/fieldcrypt/keystore"
	"github.com/fieldcrypt/fieldcrypt/keystore/memory"
	"github.com/fieldcrypt/fieldcrypt/keystore/sqlite"
	"github.com/fieldcrypt/fieldcrypt/kms/kmstest"
	"github.com/fieldcrypt/fieldcrypt/pii"
)

// TestReviewM2LostGlobalRecordFailsClosedSQLite: a SQLite store that lost
// its global record (a raw DELETE) but holds subject keys and tombstones
// must not get new global keys: New fails with ErrGlobalKeysMissing and
// the store is left as it was.
func TestReviewM2LostGlobalRecordFailsClosedSQLite(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keys.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	kek := kmstest.New("test:1")
	p, err := pii.New(ctx, kek, s)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"alice", "bob"} {
		c := Customer{ID: id, Name: "x"}
		if err := p.Seal(ctx, &c); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.Forget(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `DELETE FROM fieldcrypt_keys WHERE id = 'fieldcrypt.global'`); err != nil {
		t.Fatal(err)
	}
	before, _ := s.Scan(ctx, "", 100)

	for _, opts := range [][]pii.Option{nil, {pii.WithoutInit()}} {
		if _, err := pii.New(ctx, kek, s, opts...); !errors.Is(err, pii.ErrGlobalKeysMissing) {
			t.Errorf("New(%d options) over a store without its global record = %v, want ErrGlobalKeysMissing", len(opts), err)
		}
	}
	if _, err := s.Get(ctx, "fieldcrypt.global"); !errors.Is(err, keystore.ErrNotFound) {
		t.Errorf("New created a global record anyway: %v", err)
	}
	if after, _ := s.Scan(ctx, "", 100); len(after) != len(before) {
		t.Errorf("store changed: %d records, had %d", len(after), len(before))
	}
}

// TestReviewM2LostGlobalRecordFailsClosedMemory covers each thing a store
// can hold without its global record (subject keys, tombstones only,
// receipts only) on the memory store, and WithoutInit on an empty store.
func TestReviewM2LostGlobalRecordFailsClosedMemory(t *testing.T) {
	ctx := context.Background()
	kek := kmstest.New("test:1")

	// Only a subject key.
	s := memory.New()
	if _, _, err := s.Create(ctx, keystore.Record{ID: "s.x", KEKID: "k", Wrapped: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := pii.New(ctx, kek, s); !errors.Is(err, pii.ErrGlobalKeysMissing) {
		t.Errorf("store with a subject key only: New = %v, want ErrGlobalKeysMissing", err)
	}
	// Only a tombstone.
	s = memory.New()
	if _, err := s.Delete(ctx, keystore.Tombstone{ID: "s.y", Reason: "request"}); err != nil {
		t.Fatal(err)
	}
	if _, err := pii.New(ctx, kek, s); !errors.Is(err, pii.ErrGlobalKeysMissing) {
		t.Errorf("store with a tombstone only: New = %v, want ErrGlobalKeysMissing", err)
	}
	// Only a receipt (the tombstone was readmitted).
	if err := s.Readmit(ctx, "s.y"); err != nil {
		t.Fatal(err)
	}
	if _, err := pii.New(ctx, kek, s); !errors.Is(err, pii.ErrGlobalKeysMissing) {
		t.Errorf("store with a receipt only: New = %v, want ErrGlobalKeysMissing", err)
	}
	// The global record erased.
	e := newEnv(t)
	if _, err := e.store.Delete(ctx, keystore.Tombstone{ID: "fieldcrypt.global", Reason: "request"}); err != nil {
		t.Fatal(err)
	}
	if _, err := pii.New(ctx, e.kek, e.store); !errors.Is(err, pii.ErrGlobalKeysMissing) {
		t.Errorf("store with an erased global record: New = %v, want ErrGlobalKeysMissing", err)
	}

	// An empty store: WithoutInit refuses and creates nothing; New without
	// it initializes, after which WithoutInit works.
	s = memory.New()
	if _, err := pii.New(ctx, kek, s, pii.WithoutInit()); !errors.Is(err, pii.ErrNotInitialized) {
		t.Errorf("WithoutInit on an empty store: New = %v, want ErrNotInitialized", err)
	}
	if recs, _ := s.Scan(ctx, "", 10); len(recs) != 0 {
		t.Errorf("WithoutInit created %d records", len(recs))
	}
	p1, err := pii.New(ctx, kek, s)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := pii.New(ctx, kek, s, pii.WithoutInit())
	if err != nil {
		t.Fatalf("WithoutInit on an initialized store: %v", err)
	}
	c := Customer{ID: "carol", Name: "x"}
	if err := p1.Seal(ctx, &c); err != nil {
		t.Fatal(err)
	}
	if err := p2.Open(ctx, &c); err != nil || c.Name != "x" {
		t.Errorf("the two Protectors do not share global keys: %v", err)
	}
}

// TestTombstoneMACAuthenticatesEveryField: the MAC verifies with the same
// global keys, and fails with ErrAuthentication when any field changes or
// the keys are another store's.
func TestTombstoneMACAuthenticatesEveryField(t *testing.T) {
	e := newEnv(t)
	p2 := e.protector(t, pii.WithoutInit())
	other := newEnv(t)
	ts := keystore.Tombstone{ID: "s.abc", ErasedAt: time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC), Reason: "request"}
	mac := e.p.TombstoneMAC(ts)
	if len(mac) != 32 {
		t.Fatalf("MAC of %d bytes, want 32", len(mac))
	}
	if err := p2.VerifyTombstone(ts, mac); err != nil {
		t.Errorf("another Protector on the same store: %v", err)
	}
	// Same instant in another zone, and below a microsecond: the same MAC.
	same := ts
	same.ErasedAt = ts.ErasedAt.Truncate(time.Microsecond).In(time.FixedZone("x", 3600))
	if err := e.p.VerifyTombstone(same, mac); err != nil {
		t.Errorf("same tombstone in another time zone: %v", err)
	}
	for name, bad := range map[string]keystore.Tombstone{
		"id":       {ID: "s.abd", ErasedAt: ts.ErasedAt, Reason: ts.Reason},
		"time":     {ID: ts.ID, ErasedAt: ts.ErasedAt.Add(time.Microsecond), Reason: ts.Reason},
		"reason":   {ID: ts.ID, ErasedAt: ts.ErasedAt, Reason: "retention"},
		"zerotime": {ID: ts.ID, Reason: ts.Reason},
		"shifted":  {ID: ts.ID + "r", ErasedAt: ts.ErasedAt, Reason: "equest"},
	} {
		if err := e.p.VerifyTombstone(bad, mac); !errors.Is(err, pii.ErrAuthentication) {
			t.Errorf("%s changed: Verify = %v, want ErrAuthentication", name, err)
		}
	}
	if err := other.p.VerifyTombstone(ts, mac); !errors.Is(err, pii.ErrAuthentication) {
		t.Errorf("another store's keys: Verify = %v, want ErrAuthentication", err)
	}
	if err := e.p.VerifyTombstone(ts, mac[:31]); !errors.Is(err, pii.ErrAuthentication) {
		t.Errorf("truncated MAC: Verify = %v, want ErrAuthentication", err)
	}
	if bytes.Equal(mac, other.p.TombstoneMAC(ts)) {
		t.Error("two stores give the same MAC")
	}
}

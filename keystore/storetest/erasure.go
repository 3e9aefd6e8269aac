package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/fieldcrypt/fieldcrypt/keystore"
)

// testUpdateAcrossErasure is review finding H1: a writer that read a record
// before it was erased, readmitted and created again holds the same ID and
// Version as the new record. Its Update must fail with ErrConflict; if it
// succeeded, it would bring the erased key back and destroy the new one.
func testUpdateAcrossErasure(t *testing.T, s keystore.Store) {
	ctx := context.Background()
	stale, _, err := s.Create(ctx, rec("a", "erased-key"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctx, keystore.Tombstone{ID: "a", Reason: "request"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Readmit(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	fresh, created, err := s.Create(ctx, rec("a", "new-key"))
	if err != nil || !created {
		t.Fatalf("Create after Readmit = %v, %v", created, err)
	}
	if fresh.Version != stale.Version {
		t.Fatalf("versions %d and %d differ: the case needs the same Version in both lives", stale.Version, fresh.Version)
	}
	if fresh.Incarnation == stale.Incarnation {
		t.Errorf("both lives of the ID have Incarnation %q", fresh.Incarnation)
	}
	stale.Wrapped = []byte("erased-key-rewrapped")
	if _, err := s.Update(ctx, stale); !errors.Is(err, keystore.ErrConflict) {
		t.Errorf("Update of a record read before Delete + Readmit + Create = %v, want ErrConflict", err)
	}
	got, err := s.Get(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	assertSame(t, got, fresh)

	// Still refused once the new life's Version has caught up with the
	// stale writer's, and the new life's own writers are not hindered.
	next := fresh
	next.Wrapped = []byte("new-key-rotated")
	fresh2, err := s.Update(ctx, next)
	if err != nil {
		t.Fatalf("Update of the current record = %v", err)
	}
	stale.Version = fresh2.Version
	if _, err := s.Update(ctx, stale); !errors.Is(err, keystore.ErrConflict) {
		t.Errorf("stale Update at the current Version = %v, want ErrConflict", err)
	}
	if got, err := s.Get(ctx, "a"); err != nil || string(got.Wrapped) != "new-key-rotated" {
		t.Errorf("after the stale Updates, Get = %q, %v; want the new life's key", got.Wrapped, err)
	}
}

// testDeletionAlreadyTombstoned: Deletion.AlreadyTombstoned says whether a
// tombstone stood before the call (review L12: a first erasure must not be
// reported as a repeated one).
func testDeletionAlreadyTombstoned(t *testing.T, s keystore.Store) {
	ctx := context.Background()
	created, _, err := s.Create(ctx, rec("a", "w"))
	if err != nil {
		t.Fatal(err)
	}
	check := func(what, id string, found, already bool) keystore.Deletion {
		t.Helper()
		d, err := s.Delete(ctx, keystore.Tombstone{ID: id, Reason: "request"})
		if err != nil {
			t.Fatalf("%s: Delete = %v", what, err)
		}
		if d.Found != found || d.AlreadyTombstoned != already {
			t.Errorf("%s: Deletion{Found: %v, AlreadyTombstoned: %v}, want {%v, %v}", what, d.Found, d.AlreadyTombstoned, found, already)
		}
		return d
	}
	d := check("first erasure of a record", "a", true, false)
	assertSame(t, d.Removed, created)
	check("repeated erasure", "a", false, true)
	check("first erasure of an ID that never had a record", "never", false, false)
	check("repeated erasure of that ID", "never", false, true)

	// After Readmit the ID starts a new life: its next erasure is a first.
	if err := s.Readmit(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Create(ctx, rec("a", "second life")); err != nil {
		t.Fatal(err)
	}
	check("first erasure of the second life", "a", true, false)
}

// testDeleteRestoredRecord: a record brought back beside its tombstone (a
// backup restored) is still refused, and erasing it again removes it and
// reports that a tombstone stood, keeping the first tombstone.
func testDeleteRestoredRecord(t *testing.T, s keystore.Store, c config) {
	if c.restore == nil {
		t.Skip("the store's test gives no storetest.WithRestore")
	}
	ctx := context.Background()
	created, _, err := s.Create(ctx, rec("a", "restored-key"))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	if _, err := s.Delete(ctx, keystore.Tombstone{ID: "a", ErasedAt: at, Reason: "request"}); err != nil {
		t.Fatal(err)
	}
	c.restore(t, s, created)
	if _, err := s.Get(ctx, "a"); !errors.Is(err, keystore.ErrTombstoned) {
		t.Errorf("Get of a restored record beside its tombstone = %v, want ErrTombstoned", err)
	}
	d, err := s.Delete(ctx, keystore.Tombstone{ID: "a", ErasedAt: at.Add(time.Hour), Reason: "reapply"})
	if err != nil {
		t.Fatalf("Delete of the restored record = %v", err)
	}
	if !d.Found || !d.AlreadyTombstoned {
		t.Errorf("Deletion{Found: %v, AlreadyTombstoned: %v}, want {true, true}", d.Found, d.AlreadyTombstoned)
	}
	assertSame(t, d.Removed, created)
	if ts, err := s.GetTombstone(ctx, "a"); err != nil || !ts.ErasedAt.Equal(at) || ts.Reason != "request" {
		t.Errorf("GetTombstone = %+v, %v; want the first tombstone kept", ts, err)
	}
	if recs, err := s.Scan(ctx, "", 10); err != nil || len(recs) != 0 {
		t.Errorf("Scan after erasing the restored record = %d records, %v; want none", len(recs), err)
	}
	if rs, err := s.Receipts(ctx, keystore.ReceiptQuery{ID: "a", Limit: 10}); err != nil || len(rs) != 2 || rs[1].Reason != "reapply" {
		t.Errorf("Receipts = %+v, %v; want one for each removal", rs, err)
	}
}

// testDeleteExpired: DeleteExpired erases a record whose retention has
// passed, re-checking the retention in the deleting step (review L5), and
// otherwise changes nothing.
func testDeleteExpired(t *testing.T, s keystore.Store) {
	ctx := context.Background()
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	now := base.Add(10 * 24 * time.Hour)
	records := map[string]keystore.Record{}
	for id, until := range map[string]time.Time{
		"due":      base.Add(5 * 24 * time.Hour),
		"deadline": now, // the deadline itself is expired, as in ScanExpired
		"extended": base.Add(5 * 24 * time.Hour),
		"lifted":   base.Add(5 * 24 * time.Hour),
		"later":    base.Add(20 * 24 * time.Hour),
		"forever":  {},
	} {
		r := rec(id, "key-of-"+id)
		r.RetainUntil = until
		stored, _, err := s.Create(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		records[id] = stored
	}
	expired, err := s.ScanExpired(ctx, now, 10)
	if err != nil || len(expired) != 4 {
		t.Fatalf("ScanExpired = %d records, %v; want due, extended, lifted, deadline", len(expired), err)
	}
	// After the scan, and before the deletion, one retention is extended
	// and one lifted.
	for id, until := range map[string]time.Time{"extended": base.Add(365 * 24 * time.Hour), "lifted": {}} {
		r := records[id]
		r.RetainUntil = until
		updated, err := s.Update(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		records[id] = updated
	}

	for _, id := range []string{"due", "deadline"} {
		d, err := s.DeleteExpired(ctx, keystore.Tombstone{ID: id, ErasedAt: now, Reason: "retention"}, now)
		if err != nil {
			t.Fatalf("DeleteExpired(%s) = %v", id, err)
		}
		if !d.Found || d.AlreadyTombstoned {
			t.Errorf("DeleteExpired(%s): Deletion{Found: %v, AlreadyTombstoned: %v}, want {true, false}", id, d.Found, d.AlreadyTombstoned)
		}
		assertSame(t, d.Removed, records[id])
		if _, err := s.Get(ctx, id); !errors.Is(err, keystore.ErrTombstoned) {
			t.Errorf("Get(%s) after DeleteExpired = %v, want ErrTombstoned", id, err)
		}
		if ts, err := s.GetTombstone(ctx, id); err != nil || ts.Reason != "retention" || !ts.ErasedAt.Equal(now) {
			t.Errorf("GetTombstone(%s) = %+v, %v", id, ts, err)
		}
		if rs, err := s.Receipts(ctx, keystore.ReceiptQuery{ID: id, Limit: 10}); err != nil || len(rs) != 1 || rs[0].Reason != "retention" || rs[0].KEKID != "kek:1" {
			t.Errorf("Receipts(%s) = %+v, %v; want one retention receipt", id, rs, err)
		}
	}

	// Not expired (any more, or ever): ErrConflict, and nothing changes.
	for _, id := range []string{"extended", "lifted", "later", "forever"} {
		if _, err := s.DeleteExpired(ctx, keystore.Tombstone{ID: id, ErasedAt: now, Reason: "retention"}, now); !errors.Is(err, keystore.ErrConflict) {
			t.Errorf("DeleteExpired(%s) = %v, want ErrConflict", id, err)
		}
		assertUntouched(t, s, records[id])
	}
	// No record: ErrNotFound, and no tombstone is written.
	if _, err := s.DeleteExpired(ctx, keystore.Tombstone{ID: "nobody", Reason: "retention"}, now); !errors.Is(err, keystore.ErrNotFound) {
		t.Errorf("DeleteExpired(no record) = %v, want ErrNotFound", err)
	}
	if _, err := s.GetTombstone(ctx, "nobody"); !errors.Is(err, keystore.ErrNotFound) {
		t.Errorf("DeleteExpired(no record) wrote a tombstone: GetTombstone = %v", err)
	}
	// Already erased: ErrTombstoned, the tombstone kept, no new receipt.
	if _, err := s.Delete(ctx, keystore.Tombstone{ID: "ghost", Reason: "request"}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"due", "ghost"} {
		if _, err := s.DeleteExpired(ctx, keystore.Tombstone{ID: id, ErasedAt: now.Add(time.Hour), Reason: "retention"}, now.Add(time.Hour)); !errors.Is(err, keystore.ErrTombstoned) {
			t.Errorf("DeleteExpired(%s, erased) = %v, want ErrTombstoned", id, err)
		}
	}
	if ts, _ := s.GetTombstone(ctx, "ghost"); ts.Reason != "request" {
		t.Errorf("DeleteExpired replaced a tombstone: %+v", ts)
	}
	if _, err := s.DeleteExpired(ctx, keystore.Tombstone{ID: "bad id"}, now); !errors.Is(err, keystore.ErrInvalid) {
		t.Errorf("DeleteExpired(invalid id) = %v, want ErrInvalid", err)
	}
	if rs, err := s.Receipts(ctx, keystore.ReceiptQuery{Limit: 100}); err != nil || len(rs) != 3 {
		t.Errorf("Receipts = %d, %v; want 3 (due, deadline, ghost)", len(rs), err)
	}
}

// testDeleteExpiredRestoredRecord: an expired record restored beside its
// tombstone is an erased ID: DeleteExpired refuses it with ErrTombstoned
// and leaves it to Delete.
func testDeleteExpiredRestoredRecord(t *testing.T, s keystore.Store, c config) {
	if c.restore == nil {
		t.Skip("the store's test gives no storetest.WithRestore")
	}
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	r := rec("a", "w")
	r.RetainUntil = now.Add(-time.Hour)
	created, _, err := s.Create(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteExpired(ctx, keystore.Tombstone{ID: "a", Reason: "retention"}, now); err != nil {
		t.Fatal(err)
	}
	c.restore(t, s, created)
	if _, err := s.DeleteExpired(ctx, keystore.Tombstone{ID: "a", Reason: "retention"}, now); !errors.Is(err, keystore.ErrTombstoned) {
		t.Errorf("DeleteExpired(restored) = %v, want ErrTombstoned", err)
	}
	if d, err := s.Delete(ctx, keystore.Tombstone{ID: "a", Reason: "reapply"}); err != nil || !d.Found || !d.AlreadyTombstoned {
		t.Errorf("Delete(restored) = %+v, %v; want found, already tombstoned", d, err)
	}
}

// assertUntouched checks that want is still stored as it was, with no
// tombstone and no receipt.
func assertUntouched(t *testing.T, s keystore.Store, want keystore.Record) {
	t.Helper()
	ctx := context.Background()
	got, err := s.Get(ctx, want.ID)
	if err != nil {
		t.Errorf("Get(%s) = %v, want the record unchanged", want.ID, err)
		return
	}
	assertSame(t, got, want)
	if _, err := s.GetTombstone(ctx, want.ID); !errors.Is(err, keystore.ErrNotFound) {
		t.Errorf("GetTombstone(%s) = %v, want none", want.ID, err)
	}
	if rs, err := s.Receipts(ctx, keystore.ReceiptQuery{ID: want.ID, Limit: 10}); err != nil || len(rs) != 0 {
		t.Errorf("Receipts(%s) = %+v, %v; want none", want.ID, rs, err)
	}
}

// testReadmitRemovesRestoredRecord: Readmit lifts a tombstone, never the
// erasure: a record brought back beside the tombstone by a restore is
// removed (with a receipt), not made live again, and the ID starts afresh.
func testReadmitRemovesRestoredRecord(t *testing.T, s keystore.Store, c config) {
	if c.restore == nil {
		t.Skip("the store's test gives no storetest.WithRestore")
	}
	ctx := context.Background()
	erased, _, err := s.Create(ctx, rec("a", "erased-key"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctx, keystore.Tombstone{ID: "a", Reason: "request"}); err != nil {
		t.Fatal(err)
	}
	c.restore(t, s, erased)
	if err := s.Readmit(ctx, "a"); err != nil {
		t.Fatalf("Readmit = %v", err)
	}
	if got, err := s.Get(ctx, "a"); !errors.Is(err, keystore.ErrNotFound) {
		t.Fatalf("after Readmit, Get = %q, %v; want ErrNotFound (the restored, erased key must not come back)", got.Wrapped, err)
	}
	got, created, err := s.Create(ctx, rec("a", "new-key"))
	if err != nil || !created || string(got.Wrapped) != "new-key" {
		t.Errorf("Create after Readmit = %q, %v, %v; want a new record", got.Wrapped, created, err)
	}
	rs, err := s.Receipts(ctx, keystore.ReceiptQuery{ID: "a", Limit: 10})
	if err != nil || len(rs) != 2 {
		t.Fatalf("Receipts = %+v, %v; want the erasure's and the restored record's removal", rs, err)
	}
	if rs[1].KEKID != erased.KEKID || len(rs[1].KeyIDs) != len(erased.KeyIDs) || rs[1].Reason != "request" {
		t.Errorf("receipt of the restored record's removal = %+v", rs[1])
	}
}

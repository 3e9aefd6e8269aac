package storetest

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/fieldcrypt/fieldcrypt/keystore"
)

func readdresser(t *testing.T, s keystore.Store) keystore.Readdresser {
	t.Helper()
	r, ok := s.(keystore.Readdresser)
	if !ok {
		t.Skip("the store does not implement keystore.Readdresser")
	}
	return r
}

// moveOf is the Move of rec to id, with a new wrapped keyset.
func moveOf(rec keystore.Record, to, wrapped string) keystore.Move {
	r := rec.Clone()
	r.Wrapped, r.KEKID, r.KeyIDs = []byte(wrapped), "kek:2", []uint32{7, 9, 11}
	return keystore.Move{From: rec.ID, To: to, Record: &r}
}

// testReaddressRecord: a record moves to its new ID in one step, with the
// re-wrapped keyset, its incarnation, creation time and retention; nothing
// is left at the old ID, and moving again finds nothing.
func testReaddressRecord(t *testing.T, s keystore.Store) {
	ctx := context.Background()
	rd := readdresser(t, s)
	r := rec("a", "wrapped-a")
	r.RetainUntil = time.Date(2030, 1, 2, 3, 4, 5, 6000, time.UTC)
	created, _, err := s.Create(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	m, err := rd.Readdress(ctx, moveOf(created, "b", "wrapped-for-b"))
	if err != nil {
		t.Fatalf("Readdress = %v", err)
	}
	if !m.Moved || m.Tombstoned || len(m.Erased) != 0 {
		t.Errorf("Moved = %+v, want a moved record", m)
	}
	got, err := s.Get(ctx, "b")
	if err != nil {
		t.Fatalf("Get(new ID) = %v", err)
	}
	if got.ID != "b" || !bytes.Equal(got.Wrapped, []byte("wrapped-for-b")) || got.KEKID != "kek:2" || len(got.KeyIDs) != 3 {
		t.Errorf("moved record = %+v, want the re-wrapped keyset", got)
	}
	if got.Incarnation != created.Incarnation || got.Version != created.Version+1 || !got.Created.Equal(created.Created) || !got.RetainUntil.Equal(r.RetainUntil) {
		t.Errorf("moved record kept Incarnation %q Version %d Created %v RetainUntil %v; want %q %d %v %v",
			got.Incarnation, got.Version, got.Created, got.RetainUntil, created.Incarnation, created.Version+1, created.Created, r.RetainUntil)
	}
	assertSame(t, m.Record, got)
	if _, err := s.Get(ctx, "a"); !errors.Is(err, keystore.ErrNotFound) {
		t.Errorf("Get(old ID) = %v, want ErrNotFound", err)
	}
	if _, err := s.GetTombstone(ctx, "a"); !errors.Is(err, keystore.ErrNotFound) {
		t.Errorf("a move left a tombstone at the old ID: %v", err)
	}
	if rs, err := s.Receipts(ctx, keystore.ReceiptQuery{Limit: 10}); err != nil || len(rs) != 0 {
		t.Errorf("a move wrote receipts: %+v, %v", rs, err)
	}
	if _, err := rd.Readdress(ctx, moveOf(created, "b", "again")); !errors.Is(err, keystore.ErrNotFound) {
		t.Errorf("Readdress of an empty ID = %v, want ErrNotFound", err)
	}
	// An Update by a writer that read the old ID cannot write there again.
	if _, err := s.Update(ctx, created); !errors.Is(err, keystore.ErrNotFound) {
		t.Errorf("Update at the old ID = %v, want ErrNotFound", err)
	}
	// Invalid moves change nothing.
	for _, bad := range []keystore.Move{{From: "b", To: "b"}, {From: "b", To: ""}, {From: "b", To: "c d"}} {
		if _, err := rd.Readdress(ctx, bad); !errors.Is(err, keystore.ErrInvalid) {
			t.Errorf("Readdress(%q → %q) = %v, want ErrInvalid", bad.From, bad.To, err)
		}
	}
	if again, err := s.Get(ctx, "b"); err != nil || again.Version != got.Version {
		t.Errorf("after invalid moves: %+v, %v", again, err)
	}
}

// testReaddressRefusesExisting: a move onto an ID that holds a record
// fails with ErrExists and changes neither.
func testReaddressRefusesExisting(t *testing.T, s keystore.Store) {
	ctx := context.Background()
	rd := readdresser(t, s)
	a, _, err := s.Create(ctx, rec("a", "wrapped-a"))
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := s.Create(ctx, rec("b", "wrapped-b"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rd.Readdress(ctx, moveOf(a, "b", "x")); !errors.Is(err, keystore.ErrExists) {
		t.Fatalf("Readdress onto an existing record = %v, want ErrExists", err)
	}
	assertUntouched(t, s, a)
	assertUntouched(t, s, b)
}

// testReaddressStale: a move made from a record read before an Update (or
// without the record) fails with ErrConflict and changes nothing.
func testReaddressStale(t *testing.T, s keystore.Store) {
	ctx := context.Background()
	rd := readdresser(t, s)
	a, _, err := s.Create(ctx, rec("a", "wrapped-a"))
	if err != nil {
		t.Fatal(err)
	}
	a2 := a.Clone()
	a2.Wrapped = []byte("rotated")
	updated, err := s.Update(ctx, a2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rd.Readdress(ctx, moveOf(a, "b", "stale")); !errors.Is(err, keystore.ErrConflict) {
		t.Errorf("Readdress of a stale read = %v, want ErrConflict", err)
	}
	if _, err := rd.Readdress(ctx, keystore.Move{From: "a", To: "b"}); !errors.Is(err, keystore.ErrConflict) {
		t.Errorf("Readdress of a record without it = %v, want ErrConflict", err)
	}
	assertUntouched(t, s, updated)
	if _, err := s.Get(ctx, "b"); !errors.Is(err, keystore.ErrNotFound) {
		t.Errorf("Get(b) = %v, want ErrNotFound", err)
	}
}

// testReaddressTombstone: a tombstone moves with its time and reason; the
// old ID is left empty, the new one refuses Create, and receipts keep the
// ID they were written under.
func testReaddressTombstone(t *testing.T, s keystore.Store) {
	ctx := context.Background()
	rd := readdresser(t, s)
	if _, _, err := s.Create(ctx, rec("a", "wrapped-a")); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	if _, err := s.Delete(ctx, keystore.Tombstone{ID: "a", ErasedAt: at, Reason: "request"}); err != nil {
		t.Fatal(err)
	}
	m, err := rd.Readdress(ctx, keystore.Move{From: "a", To: "b"})
	if err != nil {
		t.Fatalf("Readdress of a tombstone = %v", err)
	}
	if m.Moved || !m.Tombstoned || len(m.Erased) != 0 || !m.ErasedAt.Equal(at) || m.Reason != "request" {
		t.Errorf("Moved = %+v, want the tombstone moved", m)
	}
	if ts, err := s.GetTombstone(ctx, "b"); err != nil || !ts.ErasedAt.Equal(at) || ts.Reason != "request" || ts.ID != "b" {
		t.Errorf("GetTombstone(new ID) = %+v, %v", ts, err)
	}
	if _, err := s.GetTombstone(ctx, "a"); !errors.Is(err, keystore.ErrNotFound) {
		t.Errorf("GetTombstone(old ID) = %v, want ErrNotFound", err)
	}
	if _, _, err := s.Create(ctx, rec("b", "new")); !errors.Is(err, keystore.ErrTombstoned) {
		t.Errorf("Create at the new ID = %v, want ErrTombstoned", err)
	}
	if ts, err := s.Tombstones(ctx, "", 10); err != nil || len(ts) != 1 || ts[0].ID != "b" {
		t.Errorf("Tombstones = %+v, %v; want just b", ts, err)
	}
	if rs, err := s.Receipts(ctx, keystore.ReceiptQuery{Limit: 10}); err != nil || len(rs) != 1 || rs[0].ID != "a" {
		t.Errorf("Receipts = %+v, %v; want the one receipt, under the old ID", rs, err)
	}
}

// testReaddressIntoTombstone: a record moved onto an ID whose subject was
// erased there is erased (a tombstone anywhere wins), with a receipt under
// the new ID.
func testReaddressIntoTombstone(t *testing.T, s keystore.Store) {
	ctx := context.Background()
	rd := readdresser(t, s)
	a, _, err := s.Create(ctx, rec("a", "wrapped-a"))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	if _, err := s.Delete(ctx, keystore.Tombstone{ID: "b", ErasedAt: at, Reason: "request"}); err != nil {
		t.Fatal(err)
	}
	m, err := rd.Readdress(ctx, moveOf(a, "b", "x"))
	if err != nil {
		t.Fatalf("Readdress = %v", err)
	}
	if m.Moved || !m.Tombstoned || len(m.Erased) != 1 || m.Erased[0].ID != "a" {
		t.Errorf("Moved = %+v, want a's record erased", m)
	}
	if recs, err := s.Scan(ctx, "", 10); err != nil || len(recs) != 0 {
		t.Errorf("Scan = %d records, %v; want none", len(recs), err)
	}
	rs, err := s.Receipts(ctx, keystore.ReceiptQuery{ID: "b", Limit: 10})
	if err != nil || len(rs) != 2 || rs[1].KEKID != a.KEKID || len(rs[1].KeyIDs) != len(a.KeyIDs) {
		t.Errorf("Receipts(b) = %+v, %v; want the tombstone's and the erased record's", rs, err)
	}
	if ts, err := s.Tombstones(ctx, "", 10); err != nil || len(ts) != 1 || ts[0].ID != "b" || !ts[0].ErasedAt.Equal(at) {
		t.Errorf("Tombstones = %+v, %v; want b's, kept", ts, err)
	}
}

// testReaddressRestoredRecord: a record beside a tombstone at the old ID
// (a restored backup) is erased, not moved, and so is a record at the new
// ID when the subject's tombstone is still at the old one.
func testReaddressRestoredRecord(t *testing.T, s keystore.Store, c config) {
	if c.restore == nil {
		t.Skip("the store's test gives no storetest.WithRestore")
	}
	ctx := context.Background()
	rd := readdresser(t, s)
	a, _, err := s.Create(ctx, rec("a", "erased-key"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctx, keystore.Tombstone{ID: "a", Reason: "request"}); err != nil {
		t.Fatal(err)
	}
	c.restore(t, s, a)
	if _, _, err := s.Create(ctx, rec("b", "written-by-a-stale-process")); err != nil {
		t.Fatal(err)
	}
	m, err := rd.Readdress(ctx, keystore.Move{From: "a", To: "b"})
	if err != nil {
		t.Fatalf("Readdress = %v", err)
	}
	if !m.Tombstoned || len(m.Erased) != 2 {
		t.Errorf("Moved = %+v, want both records erased", m)
	}
	if recs, err := s.Scan(ctx, "", 10); err != nil || len(recs) != 0 {
		t.Errorf("Scan = %d records, %v; want none", len(recs), err)
	}
	if _, err := s.Get(ctx, "b"); !errors.Is(err, keystore.ErrTombstoned) {
		t.Errorf("Get(b) = %v, want ErrTombstoned", err)
	}
}

// testReaddressDeleteRace: an erasure of the old ID racing its move leaves
// no live record: either the move came first (and the erasure's tombstone at
// the old ID makes the next move erase the moved record) or the erasure did.
func testReaddressDeleteRace(t *testing.T, s keystore.Store) {
	ctx := context.Background()
	rd := readdresser(t, s)
	for i := range 20 {
		from, to := "a"+string(rune('a'+i)), "b"+string(rune('a'+i))
		r, _, err := s.Create(ctx, rec(from, "k"))
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			if _, err := s.Delete(ctx, keystore.Tombstone{ID: from, Reason: "request"}); err != nil {
				t.Error(err)
			}
		}()
		go func() {
			defer wg.Done()
			if _, err := rd.Readdress(ctx, moveOf(r, to, "k2")); err != nil && !errors.Is(err, keystore.ErrConflict) {
				t.Error(err)
			}
		}()
		wg.Wait()
		// Finish the migration of this ID, as a re-addressing run would.
		if _, err := rd.Readdress(ctx, keystore.Move{From: from, To: to}); err != nil && !errors.Is(err, keystore.ErrNotFound) {
			t.Fatal(err)
		}
		for _, id := range []string{from, to} {
			if _, err := s.Get(ctx, id); !errors.Is(err, keystore.ErrTombstoned) && !errors.Is(err, keystore.ErrNotFound) {
				t.Fatalf("round %d: Get(%s) = %v: a record survived the erasure", i, id, err)
			}
		}
		if _, err := s.GetTombstone(ctx, to); err != nil {
			t.Fatalf("round %d: no tombstone at the new ID: %v", i, err)
		}
	}
}

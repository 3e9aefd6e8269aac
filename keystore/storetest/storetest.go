// Package storetest is the conformance suite every keystore.Store must pass
// (and, for stores that implement keystore.Readdresser, keystore.Holder,
// keystore.RequestLog, keystore.ConsentStore, keystore.AuditLog or keystore.TokenVault, their cases; they are
// skipped for stores that do not).
// A store's own test calls Run with a function that returns a new, empty
// store, and WithRestore if it can put a record back beside its tombstone
// (as restoring a backup does), which the cases about restored records
// need. Only runs chosen cases alone, for a regression test of one
// behaviour:
//
//	storetest.Run(t, newStore, storetest.Only("UpdateAcrossErasure"))
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fieldcrypt/fieldcrypt/keystore"
)

// Run runs the conformance suite. newStore must return a new, empty store
// each time it is called; it may register cleanups on t.
func Run(t *testing.T, newStore func(t *testing.T) keystore.Store, opts ...Option) {
	var c config
	for _, o := range opts {
		o(&c)
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, s keystore.Store, c config)
	}{
		{"GetMissing", plain(testGetMissing)},
		{"CreateGet", plain(testCreateGet)},
		{"CreateExistingLoses", plain(testCreateExistingLoses)},
		{"CreateInvalid", plain(testCreateInvalid)},
		{"ReturnedRecordsAreCopies", plain(testCopies)},
		{"Update", plain(testUpdate)},
		{"UpdateAcrossErasure", plain(testUpdateAcrossErasure)},
		{"Delete", plain(testDelete)},
		{"DeleteNeverCreated", plain(testDeleteNeverCreated)},
		{"DeletionAlreadyTombstoned", plain(testDeletionAlreadyTombstoned)},
		{"DeleteRestoredRecord", testDeleteRestoredRecord},
		{"DeleteExpired", plain(testDeleteExpired)},
		{"DeleteExpiredRestoredRecord", testDeleteExpiredRestoredRecord},
		{"Readmit", plain(testReadmit)},
		{"ReadmitRemovesRestoredRecord", testReadmitRemovesRestoredRecord},
		{"Scan", plain(testScan)},
		{"CreateRace", plain(testCreateRace)},
		{"CreateDeleteRace", plain(testCreateDeleteRace)},
		{"CreateMany", plain(testCreateMany)},
		{"CreateManyInvalid", plain(testCreateManyInvalid)},
		{"CreateManyRace", plain(testCreateManyRace)},
		{"CreateManyDeleteRace", plain(testCreateManyDeleteRace)},
		{"GetMany", plain(testGetMany)},
		{"CanceledContext", plain(testCanceledContext)},
		{"Receipts", plain(testReceipts)},
		{"Tombstones", plain(testTombstones)},
		{"Retention", plain(testRetention)},
		{"ReaddressRecord", plain(testReaddressRecord)},
		{"ReaddressRefusesExistingTarget", plain(testReaddressRefusesExisting)},
		{"ReaddressStaleRecord", plain(testReaddressStale)},
		{"ReaddressTombstone", plain(testReaddressTombstone)},
		{"ReaddressIntoTombstone", plain(testReaddressIntoTombstone)},
		{"ReaddressRestoredRecord", testReaddressRestoredRecord},
		{"ReaddressDeleteRace", plain(testReaddressDeleteRace)},
		{"HoldRefusesErasure", plain(testHoldRefusesErasure)},
		{"HoldBeforeData", plain(testHoldBeforeData)},
		{"HoldErased", plain(testHoldErased)},
		{"HoldsAndHistory", plain(testHoldsAndHistory)},
		{"HoldInvalid", plain(testHoldInvalid)},
		{"HoldDeleteRace", plain(testHoldDeleteRace)},
		{"RequestLog", plain(testRequestLog)},
		{"Consent", plain(testConsent)},
		{"ReaddressMovesRights", plain(testReaddressMovesRights)},
		{"ReaddressRightsOnly", plain(testReaddressRightsOnly)},
		{"ReaddressHeldTombstone", plain(testReaddressHeldTombstone)},
		{"AuditChain", plain(testAuditChain)},
		{"AuditRefusesBrokenRows", plain(testAuditRefusesBrokenRows)},
		{"AuditConcurrentAppends", plain(testAuditConcurrentAppends)},
		{"TokenPutGet", plain(testTokenPutGet)},
		{"TokenErasure", plain(testTokenErasure)},
		{"TokenReaddress", plain(testTokenReaddress)},
		{"TokenExpiry", plain(testTokenExpiry)},
		{"TokenPutRace", plain(testTokenPutRace)},
		{"PutTokensAfterErasure", plain(testPutTokensAfterErasure)},
		{"PutTokensErasureRace", plain(testPutTokensErasureRace)},
		{"SweepLock", plain(testSweepLock)},
	}
	known := map[string]bool{}
	for _, tc := range tests {
		known[tc.name] = true
	}
	for name := range c.only {
		if !known[name] {
			t.Fatalf("storetest: no case named %q", name)
		}
	}
	for _, tc := range tests {
		if c.only != nil && !c.only[tc.name] {
			continue
		}
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t), c) })
	}
}

// Option configures Run.
type Option func(*config)

type config struct {
	restore func(t *testing.T, s keystore.Store, rec keystore.Record)
	only    map[string]bool
}

// WithRestore gives the suite a way to put a record back beside its
// tombstone, as restoring a backup taken before an erasure does. restore
// must store rec exactly as given (every field, Version and Incarnation
// included), bypassing the store's checks. Without it, the cases that need
// a restored record are skipped.
func WithRestore(restore func(t *testing.T, s keystore.Store, rec keystore.Record)) Option {
	return func(c *config) { c.restore = restore }
}

// Only runs just the named cases (the names of Run's subtests), so that a
// store's regression test can run one case on its own; an unknown name
// fails the test.
func Only(names ...string) Option {
	return func(c *config) {
		if c.only == nil {
			c.only = map[string]bool{}
		}
		for _, n := range names {
			c.only[n] = true
		}
	}
}

func plain(fn func(t *testing.T, s keystore.Store)) func(t *testing.T, s keystore.Store, c config) {
	return func(t *testing.T, s keystore.Store, _ config) { fn(t, s) }
}

func rec(id string, wrapped string) keystore.Record {
	return keystore.Record{ID: id, KEKID: "kek:1", Wrapped: []byte(wrapped), KeyIDs: []uint32{7, 9}}
}

func testGetMissing(t *testing.T, s keystore.Store) {
	ctx := context.Background()
	if _, err := s.Get(ctx, "nobody"); !errors.Is(err, keystore.ErrNotFound) {
		t.Fatalf("Get(missing) = %v, want ErrNotFound", err)
	}
	if _, err := s.GetTombstone(ctx, "nobody"); !errors.Is(err, keystore.ErrNotFound) {
		t.Fatalf("GetTombstone(missing) = %v, want ErrNotFound", err)
	}
}

func testCreateGet(t *testing.T, s keystore.Store) {
	ctx := context.Background()
	before := time.Now().Add(-time.Second)
	r := rec("a", "wrapped-a")
	r.Incarnation = "chosen-by-the-caller"
	got, created, err := s.Create(ctx, r)
	if err != nil || !created {
		t.Fatalf("Create = %v, %v; want created", created, err)
	}
	if got.Version != 1 {
		t.Errorf("Version = %d, want 1", got.Version)
	}
	// The store, not the caller, sets the Incarnation: a random value of at
	// least 128 bits (26 characters of base32, as crypto/rand.Text gives).
	if len(got.Incarnation) < 26 || got.Incarnation == r.Incarnation {
		t.Errorf("Incarnation = %q, want a random value set by the store", got.Incarnation)
	}
	if got.Created.Before(before) || got.Created.After(time.Now().Add(time.Second)) || !got.Updated.Equal(got.Created) {
		t.Errorf("Created = %v, Updated = %v; want now, equal", got.Created, got.Updated)
	}
	read, err := s.Get(ctx, "a")
	if err != nil {
		t.Fatalf("Get = %v", err)
	}
	assertSame(t, read, got)
	if string(read.Wrapped) != "wrapped-a" || read.KEKID != "kek:1" || fmt.Sprint(read.KeyIDs) != "[7 9]" {
		t.Errorf("Get = %+v, want the created record", read)
	}
}

func testCreateExistingLoses(t *testing.T, s keystore.Store) {
	ctx := context.Background()
	first, _, err := s.Create(ctx, rec("a", "first"))
	if err != nil {
		t.Fatal(err)
	}
	second, created, err := s.Create(ctx, rec("a", "second"))
	if err != nil {
		t.Fatalf("second Create = %v", err)
	}
	if created {
		t.Fatal("second Create reported created")
	}
	if string(second.Wrapped) != "first" {
		t.Errorf("second Create returned %q, want the winner's record", second.Wrapped)
	}
	assertSame(t, second, first)
}

func testCreateInvalid(t *testing.T, s keystore.Store) {
	ctx := context.Background()
	long := string(bytes.Repeat([]byte("x"), keystore.MaxIDLength+1))
	for _, r := range []keystore.Record{
		rec("", "w"),
		rec(long, "w"),
		rec("has space", "w"),
		rec("tab\t", "w"),
		rec("ünïcode", "w"),
		{ID: "a", Wrapped: []byte("w")},
		{ID: "a", KEKID: "k"},
	} {
		if _, _, err := s.Create(ctx, r); !errors.Is(err, keystore.ErrInvalid) {
			t.Errorf("Create(%q, kek %q, %d bytes) = %v, want ErrInvalid", r.ID, r.KEKID, len(r.Wrapped), err)
		}
	}
	if recs, err := s.Scan(ctx, "", 10); err != nil || len(recs) != 0 {
		t.Errorf("after invalid creates, Scan = %d records, %v; want none", len(recs), err)
	}
}

func testCopies(t *testing.T, s keystore.Store) {
	ctx := context.Background()
	r := rec("a", "wrapped")
	got, _, err := s.Create(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	r.Wrapped[0] = 'X'
	got.Wrapped[1] = 'Y'
	got.KeyIDs[0] = 99
	read, err := s.Get(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if string(read.Wrapped) != "wrapped" || read.KeyIDs[0] != 7 {
		t.Errorf("store shares memory with its callers: read %q %v", read.Wrapped, read.KeyIDs)
	}
}

func testUpdate(t *testing.T, s keystore.Store) {
	ctx := context.Background()
	if _, err := s.Update(ctx, rec("a", "x")); !errors.Is(err, keystore.ErrNotFound) {
		t.Fatalf("Update(missing) = %v, want ErrNotFound", err)
	}
	v1, _, err := s.Create(ctx, rec("a", "one"))
	if err != nil {
		t.Fatal(err)
	}
	next := v1
	next.Wrapped = []byte("two")
	next.KEKID = "kek:2"
	next.KeyIDs = []uint32{1, 2, 3}
	v2, err := s.Update(ctx, next)
	if err != nil {
		t.Fatalf("Update = %v", err)
	}
	if v2.Version != 2 || string(v2.Wrapped) != "two" || v2.KEKID != "kek:2" || len(v2.KeyIDs) != 3 {
		t.Errorf("Update returned %+v", v2)
	}
	if v2.Incarnation != v1.Incarnation {
		t.Errorf("Update changed the Incarnation from %q to %q", v1.Incarnation, v2.Incarnation)
	}
	if !v2.Created.Equal(v1.Created) || v2.Updated.Before(v1.Updated) {
		t.Errorf("Update times: created %v→%v, updated %v→%v", v1.Created, v2.Created, v1.Updated, v2.Updated)
	}
	read, err := s.Get(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	assertSame(t, read, v2)

	// An update against the old version must lose.
	stale := v1
	stale.Wrapped = []byte("stale")
	if _, err := s.Update(ctx, stale); !errors.Is(err, keystore.ErrConflict) {
		t.Fatalf("stale Update = %v, want ErrConflict", err)
	}
	if read, _ := s.Get(ctx, "a"); string(read.Wrapped) != "two" {
		t.Errorf("stale Update changed the record to %q", read.Wrapped)
	}
	// So must one with the right version and another (or no) Incarnation.
	for _, inc := range []string{"", "another-incarnation"} {
		forged := v2
		forged.Incarnation = inc
		forged.Wrapped = []byte("forged")
		if _, err := s.Update(ctx, forged); !errors.Is(err, keystore.ErrConflict) {
			t.Errorf("Update with Incarnation %q = %v, want ErrConflict", inc, err)
		}
	}
	if read, _ := s.Get(ctx, "a"); string(read.Wrapped) != "two" || read.Version != 2 {
		t.Errorf("a refused Update changed the record to %q, version %d", read.Wrapped, read.Version)
	}
}

func testDelete(t *testing.T, s keystore.Store) {
	ctx := context.Background()
	created, _, err := s.Create(ctx, rec("a", "secret"))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	d, err := s.Delete(ctx, keystore.Tombstone{ID: "a", ErasedAt: at, Reason: "request"})
	removed, found := d.Removed, d.Found
	if err != nil || !found {
		t.Fatalf("Delete = %v, %v; want found", found, err)
	}
	assertSame(t, removed, created)
	if _, err := s.Get(ctx, "a"); !errors.Is(err, keystore.ErrTombstoned) {
		t.Errorf("Get after Delete = %v, want ErrTombstoned", err)
	}
	if _, _, err := s.Create(ctx, rec("a", "again")); !errors.Is(err, keystore.ErrTombstoned) {
		t.Errorf("Create after Delete = %v, want ErrTombstoned", err)
	}
	if _, err := s.Update(ctx, created); !errors.Is(err, keystore.ErrTombstoned) {
		t.Errorf("Update after Delete = %v, want ErrTombstoned", err)
	}
	ts, err := s.GetTombstone(ctx, "a")
	if err != nil {
		t.Fatalf("GetTombstone = %v", err)
	}
	if ts.ID != "a" || !ts.ErasedAt.Equal(at) || ts.Reason != "request" {
		t.Errorf("GetTombstone = %+v", ts)
	}
	// A second delete keeps the first tombstone.
	d, err = s.Delete(ctx, keystore.Tombstone{ID: "a", ErasedAt: at.Add(time.Hour), Reason: "retention"})
	found = d.Found
	if err != nil || found {
		t.Fatalf("second Delete = %v, %v; want not found, no error", found, err)
	}
	if ts2, _ := s.GetTombstone(ctx, "a"); !ts2.ErasedAt.Equal(at) || ts2.Reason != "request" {
		t.Errorf("second Delete replaced the tombstone: %+v", ts2)
	}
	if recs, _ := s.Scan(ctx, "", 10); len(recs) != 0 {
		t.Errorf("Scan after Delete returned %d records", len(recs))
	}
}

func testDeleteNeverCreated(t *testing.T, s keystore.Store) {
	ctx := context.Background()
	d, err := s.Delete(ctx, keystore.Tombstone{ID: "ghost", Reason: "request"})
	found := d.Found
	if err != nil || found {
		t.Fatalf("Delete(never created) = %v, %v", found, err)
	}
	ts, err := s.GetTombstone(ctx, "ghost")
	if err != nil || ts.ErasedAt.IsZero() {
		t.Fatalf("GetTombstone = %+v, %v; want a tombstone stamped with the time", ts, err)
	}
	if _, _, err := s.Create(ctx, rec("ghost", "w")); !errors.Is(err, keystore.ErrTombstoned) {
		t.Errorf("Create after Delete = %v, want ErrTombstoned", err)
	}
	if _, err := s.Delete(ctx, keystore.Tombstone{ID: "bad id"}); !errors.Is(err, keystore.ErrInvalid) {
		t.Errorf("Delete(invalid id) = %v, want ErrInvalid", err)
	}
}

func testReadmit(t *testing.T, s keystore.Store) {
	ctx := context.Background()
	if err := s.Readmit(ctx, "never-erased"); err != nil {
		t.Fatalf("Readmit(no tombstone) = %v", err)
	}
	// Readmit of a live ID changes nothing.
	live, _, err := s.Create(ctx, rec("live", "w"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Readmit(ctx, "live"); err != nil {
		t.Fatalf("Readmit(live) = %v", err)
	}
	if got, err := s.Get(ctx, "live"); err != nil {
		t.Errorf("Get(live) after Readmit = %v", err)
	} else {
		assertSame(t, got, live)
	}
	old, _, err := s.Create(ctx, rec("a", "old"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctx, keystore.Tombstone{ID: "a", Reason: "request"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Readmit(ctx, "a"); err != nil {
		t.Fatalf("Readmit = %v", err)
	}
	if _, err := s.Get(ctx, "a"); !errors.Is(err, keystore.ErrNotFound) {
		t.Errorf("Get after Readmit = %v, want ErrNotFound (the old key stays gone)", err)
	}
	if _, err := s.GetTombstone(ctx, "a"); !errors.Is(err, keystore.ErrNotFound) {
		t.Errorf("GetTombstone after Readmit = %v, want ErrNotFound", err)
	}
	if ts, err := s.Tombstones(ctx, "", 10); err != nil || len(ts) != 0 {
		t.Errorf("Tombstones after Readmit = %+v, %v; want none", ts, err)
	}
	got, created, err := s.Create(ctx, rec("a", "new"))
	if err != nil || !created || string(got.Wrapped) != "new" || got.Version != 1 {
		t.Errorf("Create after Readmit = %+v, %v, %v", got, created, err)
	}
	if got.Incarnation == old.Incarnation {
		t.Errorf("the record created after Readmit has the erased one's Incarnation %q", got.Incarnation)
	}
	// Readmitting twice is harmless, and never touches a live record.
	if err := s.Readmit(ctx, "a"); err != nil {
		t.Errorf("second Readmit = %v", err)
	}
	if again, err := s.Get(ctx, "a"); err != nil {
		t.Errorf("Get after a second Readmit = %v", err)
	} else {
		assertSame(t, again, got)
	}
}

func testScan(t *testing.T, s keystore.Store) {
	ctx := context.Background()
	want := map[string]bool{}
	for i := range 25 {
		id := fmt.Sprintf("id-%02d", (i*7)%25) // created out of order
		if _, _, err := s.Create(ctx, rec(id, "w")); err != nil {
			t.Fatal(err)
		}
		want[id] = true
	}
	if _, err := s.Delete(ctx, keystore.Tombstone{ID: "id-13", Reason: "request"}); err != nil {
		t.Fatal(err)
	}
	delete(want, "id-13")

	var got []string
	after := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("Scan does not terminate")
		}
		recs, err := s.Scan(ctx, after, 7)
		if err != nil {
			t.Fatalf("Scan = %v", err)
		}
		if len(recs) > 7 {
			t.Fatalf("Scan returned %d records, limit 7", len(recs))
		}
		if len(recs) == 0 {
			break
		}
		for _, r := range recs {
			if r.ID <= after {
				t.Fatalf("Scan after %q returned %q: not increasing", after, r.ID)
			}
			if len(r.Wrapped) == 0 || r.Version != 1 {
				t.Errorf("Scan record %q is incomplete: %+v", r.ID, r)
			}
			got = append(got, r.ID)
			after = r.ID
		}
	}
	if len(got) != len(want) {
		t.Fatalf("Scan returned %d records, want %d: %v", len(got), len(want), got)
	}
	for _, id := range got {
		if !want[id] {
			t.Errorf("Scan returned unexpected %q", id)
		}
	}
	if _, err := s.Scan(ctx, "", 0); !errors.Is(err, keystore.ErrInvalid) {
		t.Errorf("Scan(limit 0) = %v, want ErrInvalid", err)
	}
}

func testCreateRace(t *testing.T, s keystore.Store) {
	ctx := context.Background()
	const n = 16
	var wg sync.WaitGroup
	results := make([]keystore.Record, n)
	createdBy := make([]bool, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], createdBy[i], errs[i] = s.Create(ctx, rec("raced", fmt.Sprintf("creator-%d", i)))
		}()
	}
	wg.Wait()
	winners := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("creator %d: %v", i, errs[i])
		}
		if createdBy[i] {
			winners++
		}
		if !bytes.Equal(results[i].Wrapped, results[0].Wrapped) {
			t.Errorf("creator %d sees %q, creator 0 sees %q: not one winner", i, results[i].Wrapped, results[0].Wrapped)
		}
	}
	if winners != 1 {
		t.Errorf("%d creators won, want exactly 1", winners)
	}
}

func testCreateDeleteRace(t *testing.T, s keystore.Store) {
	ctx := context.Background()
	const n = 20
	var wg sync.WaitGroup
	for i := range n {
		id := fmt.Sprintf("subject-%d", i)
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, _, err := s.Create(ctx, rec(id, "w"))
			if err != nil && !errors.Is(err, keystore.ErrTombstoned) {
				t.Errorf("Create(%s) = %v", id, err)
			}
		}()
		go func() {
			defer wg.Done()
			if _, err := s.Delete(ctx, keystore.Tombstone{ID: id, Reason: "request"}); err != nil {
				t.Errorf("Delete(%s) = %v", id, err)
			}
		}()
	}
	wg.Wait()
	// Whichever ran first, the erasure wins: no key survives.
	for i := range n {
		id := fmt.Sprintf("subject-%d", i)
		if _, err := s.Get(ctx, id); !errors.Is(err, keystore.ErrTombstoned) {
			t.Errorf("Get(%s) after racing Create and Delete = %v, want ErrTombstoned", id, err)
		}
	}
}

func testCanceledContext(t *testing.T, s keystore.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := s.Create(ctx, rec("a", "w")); err == nil {
		t.Error("Create with a canceled context succeeded")
	}
	if _, err := s.Get(context.Background(), "a"); !errors.Is(err, keystore.ErrNotFound) {
		t.Errorf("a canceled Create left a record behind: Get = %v", err)
	}
}

func assertSame(t *testing.T, got, want keystore.Record) {
	t.Helper()
	if got.ID != want.ID || got.KEKID != want.KEKID || !bytes.Equal(got.Wrapped, want.Wrapped) ||
		fmt.Sprint(got.KeyIDs) != fmt.Sprint(want.KeyIDs) || got.Version != want.Version ||
		got.Incarnation != want.Incarnation || !got.RetainUntil.Equal(want.RetainUntil) ||
		!got.Created.Equal(want.Created) || !got.Updated.Equal(want.Updated) {
		t.Errorf("records differ:\n got  %+v\n want %+v", got, want)
	}
}

func testReceipts(t *testing.T, s keystore.Store) {
	ctx := context.Background()
	if _, _, err := s.Create(ctx, rec("a", "w")); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)
	if _, err := s.Delete(ctx, keystore.Tombstone{ID: "a", ErasedAt: at, Reason: "request"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctx, keystore.Tombstone{ID: "never", ErasedAt: at, Reason: "retention"}); err != nil {
		t.Fatal(err)
	}
	// A repeated erasure with nothing left to destroy adds no receipt.
	if _, err := s.Delete(ctx, keystore.Tombstone{ID: "a", ErasedAt: at.Add(time.Hour), Reason: "request"}); err != nil {
		t.Fatal(err)
	}
	// Receipts survive Readmit; a second life's erasure adds another.
	if err := s.Readmit(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Create(ctx, rec("a", "second life")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctx, keystore.Tombstone{ID: "a", ErasedAt: at.Add(2 * time.Hour), Reason: "request"}); err != nil {
		t.Fatal(err)
	}
	all, err := s.Receipts(ctx, keystore.ReceiptQuery{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 {
		t.Fatalf("Receipts = %d, want 3: %+v", len(all), all)
	}
	first := all[0]
	if first.ID != "a" || first.KEKID != "kek:1" || fmt.Sprint(first.KeyIDs) != "[7 9]" || !first.ErasedAt.Equal(at) || first.Reason != "request" {
		t.Errorf("first receipt = %+v", first)
	}
	if all[1].ID != "never" || len(all[1].KeyIDs) != 0 || all[1].Reason != "retention" {
		t.Errorf("receipt of an ID without keys = %+v", all[1])
	}
	for i := 1; i < len(all); i++ {
		if all[i].Seq <= all[i-1].Seq {
			t.Errorf("receipt sequence not increasing: %d then %d", all[i-1].Seq, all[i].Seq)
		}
	}
	ofA, err := s.Receipts(ctx, keystore.ReceiptQuery{ID: "a", Limit: 10})
	if err != nil || len(ofA) != 2 {
		t.Fatalf("Receipts of a = %d, %v; want 2", len(ofA), err)
	}
	page, err := s.Receipts(ctx, keystore.ReceiptQuery{After: all[0].Seq, Limit: 1})
	if err != nil || len(page) != 1 || page[0].Seq != all[1].Seq {
		t.Errorf("Receipts after %d, limit 1 = %+v, %v", all[0].Seq, page, err)
	}
	if _, err := s.Receipts(ctx, keystore.ReceiptQuery{}); !errors.Is(err, keystore.ErrInvalid) {
		t.Errorf("Receipts(limit 0) = %v, want ErrInvalid", err)
	}
}

func testTombstones(t *testing.T, s keystore.Store) {
	ctx := context.Background()
	for _, id := range []string{"c", "a", "b"} {
		if _, err := s.Delete(ctx, keystore.Tombstone{ID: id, Reason: "request"}); err != nil {
			t.Fatal(err)
		}
	}
	first, err := s.Tombstones(ctx, "", 2)
	if err != nil || len(first) != 2 || first[0].ID != "a" || first[1].ID != "b" {
		t.Fatalf("Tombstones page 1 = %+v, %v", first, err)
	}
	rest, err := s.Tombstones(ctx, "b", 2)
	if err != nil || len(rest) != 1 || rest[0].ID != "c" || rest[0].Reason != "request" || rest[0].ErasedAt.IsZero() {
		t.Fatalf("Tombstones page 2 = %+v, %v", rest, err)
	}
}

func testRetention(t *testing.T, s keystore.Store) {
	ctx := context.Background()
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i, id := range []string{"late", "early", "forever", "mid"} {
		r := rec(id, "w")
		if id != "forever" {
			r.RetainUntil = base.Add(time.Duration([]int{30, 10, 0, 20}[i]) * 24 * time.Hour)
		}
		if _, _, err := s.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Get(ctx, "early")
	if err != nil || !got.RetainUntil.Equal(base.Add(10*24*time.Hour)) {
		t.Fatalf("RetainUntil did not round-trip: %v, %v", got.RetainUntil, err)
	}
	ids := func(recs []keystore.Record) string {
		var out []string
		for _, r := range recs {
			out = append(out, r.ID)
		}
		return fmt.Sprint(out)
	}
	expired, err := s.ScanExpired(ctx, base.Add(20*24*time.Hour), 10)
	if err != nil || ids(expired) != "[early mid]" {
		t.Errorf("ScanExpired at day 20 = %s, %v; want [early mid] (soonest first, the deadline itself included)", ids(expired), err)
	}
	if expired, _ := s.ScanExpired(ctx, base.Add(100*24*time.Hour), 1); ids(expired) != "[early]" {
		t.Errorf("ScanExpired limit 1 = %s", ids(expired))
	}
	// Retention is changeable: extend "early" past everything.
	got.RetainUntil = base.Add(365 * 24 * time.Hour)
	if _, err := s.Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	if expired, _ := s.ScanExpired(ctx, base.Add(40*24*time.Hour), 10); ids(expired) != "[mid late]" {
		t.Errorf("after extending early, ScanExpired = %s, want [mid late]", ids(expired))
	}
	// Erased records are never returned.
	if _, err := s.Delete(ctx, keystore.Tombstone{ID: "mid", Reason: "retention"}); err != nil {
		t.Fatal(err)
	}
	if expired, _ := s.ScanExpired(ctx, base.Add(40*24*time.Hour), 10); ids(expired) != "[late]" {
		t.Errorf("after erasing mid, ScanExpired = %s, want [late]", ids(expired))
	}
}

package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/fieldcrypt/fieldcrypt/keystore"
)

// The cases of keystore.CreateMany: in one step on a store that implements
// keystore.BatchCreator, a loop of Create otherwise. Either way every
// record resolves as its own Create would.

func testCreateMany(t *testing.T, s keystore.Store) {
	ctx := context.Background()
	if got, err := keystore.CreateMany(ctx, s, nil); err != nil || len(got) != 0 {
		t.Fatalf("CreateMany(nothing) = %v, %v", got, err)
	}
	old, _, err := s.Create(ctx, rec("old", "first"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctx, keystore.Tombstone{ID: "gone", Reason: "request"}); err != nil {
		t.Fatal(err)
	}
	retained := rec("kept", "k")
	retained.RetainUntil = time.Date(2031, 1, 2, 3, 4, 5, 6000, time.UTC)
	batch := []keystore.Record{
		rec("new", "n"), rec("old", "second"), rec("gone", "g"), retained, rec("new", "again"), {ID: "bare", KEKID: "kek:1", Wrapped: []byte("b")},
	}
	res, err := keystore.CreateMany(ctx, s, batch)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(batch) {
		t.Fatalf("CreateMany returned %d results for %d records", len(res), len(batch))
	}
	wantCreated := []bool{true, false, false, true, false, true}
	for i, r := range res {
		if i == 2 {
			if !errors.Is(r.Err, keystore.ErrTombstoned) {
				t.Errorf("result %d (tombstoned ID) = %+v, want ErrTombstoned", i, r)
			}
			continue
		}
		if r.Err != nil || r.Created != wantCreated[i] {
			t.Errorf("result %d = created %v, err %v; want created %v", i, r.Created, r.Err, wantCreated[i])
			continue
		}
		got, err := s.Get(ctx, batch[i].ID)
		if err != nil {
			t.Fatalf("Get(%s) = %v", batch[i].ID, err)
		}
		assertSame(t, r.Stored, got)
		if got.Version != 1 || got.Incarnation == "" || got.Created.IsZero() || !got.Updated.Equal(got.Created) {
			t.Errorf("created record %s: version %d, incarnation %q, created %v, updated %v", got.ID, got.Version, got.Incarnation, got.Created, got.Updated)
		}
	}
	assertSame(t, res[1].Stored, old) // the earlier creator's record, unchanged
	if string(res[4].Stored.Wrapped) != "n" || res[4].Stored.Incarnation != res[0].Stored.Incarnation {
		t.Errorf("a repeated ID in one batch did not get the first record's keys: %q", res[4].Stored.Wrapped)
	}
	if !res[3].Stored.RetainUntil.Equal(retained.RetainUntil.Truncate(time.Microsecond)) {
		t.Errorf("RetainUntil = %v, want %v", res[3].Stored.RetainUntil, retained.RetainUntil)
	}
	if res[5].Stored.KeyIDs != nil && len(res[5].Stored.KeyIDs) != 0 {
		t.Errorf("KeyIDs of a record without any = %v", res[5].Stored.KeyIDs)
	}
	if _, err := s.Get(ctx, "gone"); !errors.Is(err, keystore.ErrTombstoned) {
		t.Errorf("CreateMany brought back a tombstoned ID: Get = %v", err)
	}
	// The store shares no memory with its callers.
	batch[0].Wrapped[0] = 'X'
	res[0].Stored.Wrapped[0] = 'Y'
	res[0].Stored.KeyIDs[0] = 99
	if got, _ := s.Get(ctx, "new"); string(got.Wrapped) != "n" || got.KeyIDs[0] != 7 {
		t.Errorf("store shares memory with its callers: read %q %v", got.Wrapped, got.KeyIDs)
	}
}

func testCreateManyInvalid(t *testing.T, s keystore.Store) {
	ctx := context.Background()
	for _, bad := range []keystore.Record{{ID: "", KEKID: "k", Wrapped: []byte("w")}, {ID: "b", Wrapped: []byte("w")}, {ID: "b", KEKID: "k"}, {ID: "with space", KEKID: "k", Wrapped: []byte("w")}} {
		_, err := keystore.CreateMany(ctx, s, []keystore.Record{rec("a", "w"), bad})
		if !errors.Is(err, keystore.ErrInvalid) {
			t.Errorf("CreateMany with an invalid record = %v, want ErrInvalid", err)
		}
	}
	if recs, err := s.Scan(ctx, "", 10); err != nil || len(recs) != 0 {
		t.Errorf("a refused CreateMany created %d records (%v)", len(recs), err)
	}
	ctx2, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := keystore.CreateMany(ctx2, s, []keystore.Record{rec("a", "w"), rec("b", "w")}); err == nil {
		t.Error("CreateMany with a canceled context succeeded")
	}
	if recs, err := s.Scan(ctx, "", 10); err != nil || len(recs) != 0 {
		t.Errorf("a canceled CreateMany created %d records (%v)", len(recs), err)
	}
}

// testCreateManyRace runs batches over the same IDs in opposite orders (a
// store that locks per ID must not deadlock) beside single Creates: every
// ID ends with one record, and every caller was told of that record.
func testCreateManyRace(t *testing.T, s keystore.Store) {
	ctx := context.Background()
	const n = 30
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("subject-%02d", i)
	}
	reversed := slices.Clone(ids)
	slices.Reverse(reversed)
	var mu sync.Mutex
	seen := map[string][]keystore.Record{} // ID: what each creator was given
	created := map[string]int{}
	note := func(r keystore.Record, c bool) {
		mu.Lock()
		defer mu.Unlock()
		seen[r.ID] = append(seen[r.ID], r)
		if c {
			created[r.ID]++
		}
	}
	var wg sync.WaitGroup
	for w, order := range [][]string{ids, reversed, ids, reversed} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			batch := make([]keystore.Record, len(order))
			for i, id := range order {
				batch[i] = rec(id, fmt.Sprintf("batch-%d", w))
			}
			res, err := keystore.CreateMany(ctx, s, batch)
			if err != nil {
				t.Errorf("CreateMany = %v", err)
				return
			}
			for _, r := range res {
				if r.Err != nil {
					t.Errorf("CreateMany result = %v", r.Err)
					continue
				}
				note(r.Stored, r.Created)
			}
		}()
	}
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, c, err := s.Create(ctx, rec(id, "single"))
			if err != nil {
				t.Errorf("Create(%s) = %v", id, err)
				return
			}
			note(r, c)
		}()
	}
	wg.Wait()
	for _, id := range ids {
		got, err := s.Get(ctx, id)
		if err != nil {
			t.Fatalf("Get(%s) = %v", id, err)
		}
		if created[id] != 1 {
			t.Errorf("%s was created %d times", id, created[id])
		}
		for _, r := range seen[id] {
			assertSame(t, r, got)
		}
	}
}

// testCreateManyDeleteRace races batches of creations with erasures of the
// same IDs: whichever runs first, the erasure wins.
func testCreateManyDeleteRace(t *testing.T, s keystore.Store) {
	ctx := context.Background()
	const n = 20
	batch := make([]keystore.Record, n)
	for i := range batch {
		batch[i] = rec(fmt.Sprintf("subject-%02d", i), "w")
	}
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := keystore.CreateMany(ctx, s, batch)
			if err != nil {
				t.Errorf("CreateMany = %v", err)
				return
			}
			for i, r := range res {
				if r.Err != nil && !errors.Is(r.Err, keystore.ErrTombstoned) {
					t.Errorf("CreateMany result %d = %v", i, r.Err)
				}
			}
		}()
	}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Delete(ctx, keystore.Tombstone{ID: batch[i].ID, Reason: "request"}); err != nil {
				t.Errorf("Delete(%s) = %v", batch[i].ID, err)
			}
		}()
	}
	wg.Wait()
	for _, r := range batch {
		if _, err := s.Get(ctx, r.ID); !errors.Is(err, keystore.ErrTombstoned) {
			t.Errorf("Get(%s) after racing CreateMany and Delete = %v, want ErrTombstoned", r.ID, err)
		}
	}
	// And a batch after the erasures creates none of them.
	res, err := keystore.CreateMany(ctx, s, batch)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if !errors.Is(r.Err, keystore.ErrTombstoned) {
			t.Errorf("CreateMany after erasure, result %d = %+v, want ErrTombstoned", i, r)
		}
	}
}

func testGetMany(t *testing.T, s keystore.Store) {
	ctx := context.Background()
	if got, err := keystore.GetMany(ctx, s, nil); err != nil || len(got) != 0 {
		t.Fatalf("GetMany(nothing) = %v, %v", got, err)
	}
	retained := rec("b", "wb")
	retained.RetainUntil = time.Date(2031, 1, 2, 3, 4, 5, 6000, time.UTC)
	for _, r := range []keystore.Record{rec("a", "wa"), retained, rec("gone", "g"), {ID: "bare", KEKID: "k", Wrapped: []byte("x")}} {
		if _, _, err := s.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Delete(ctx, keystore.Tombstone{ID: "gone", Reason: "request"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctx, keystore.Tombstone{ID: "never", Reason: "request"}); err != nil {
		t.Fatal(err)
	}
	ids := []string{"b", "missing", "gone", "a", "never", "a", "bare", "x'); --", "b"}
	got, err := keystore.GetMany(ctx, s, ids)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(ids) {
		t.Fatalf("GetMany returned %d results for %d IDs", len(got), len(ids))
	}
	for i, id := range ids {
		want, werr := s.Get(ctx, id)
		switch {
		case werr == nil:
			if got[i].Err != nil {
				t.Errorf("GetMany[%d] (%s) = %v, want the record", i, id, got[i].Err)
				continue
			}
			assertSame(t, got[i].Record, want)
		case errors.Is(werr, keystore.ErrNotFound) || errors.Is(werr, keystore.ErrTombstoned):
			if !errors.Is(got[i].Err, werr) {
				t.Errorf("GetMany[%d] (%s) = %v, want %v", i, id, got[i].Err, werr)
			}
		default:
			t.Fatalf("Get(%s) = %v", id, werr)
		}
	}
	got[0].Record.Wrapped[0] = 'X'
	got[0].Record.KeyIDs[0] = 99
	if again, _ := s.Get(ctx, "b"); string(again.Wrapped) != "wb" || again.KeyIDs[0] != 7 {
		t.Errorf("store shares memory with its callers: read %q %v", again.Wrapped, again.KeyIDs)
	}
}

package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/fieldcrypt/fieldcrypt/keystore"
)

// testPutTokensAfterErasure: a put whose Owner was erased stores nothing
// and reports ErrTombstoned; the other puts of the call are not affected.
func testPutTokensAfterErasure(t *testing.T, s keystore.Store) {
	ctx := context.Background()
	v := tokenVault(t, s)
	if _, _, err := s.Create(ctx, rec("a", "w-a")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctx, keystore.Tombstone{ID: "a", Reason: "request"}); err != nil {
		t.Fatal(err)
	}
	res, err := v.PutTokens(ctx, t0, []keystore.TokenPut{
		{TokenMapping: tm("sg", "g", "b", "7", "i", "y")},
		{TokenMapping: tm("sg", "g", "a", "7", "i", "x")},
		{TokenMapping: tm("sg", "g", "a", "8", "j", "x")},
		{TokenMapping: tm("sg", "g", "", "9", "", "z")},
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, false, false, true} {
		if res[i].Stored != want {
			t.Errorf("put %d: Stored = %v, want %v", i, res[i].Stored, want)
		}
		if tomb := errors.Is(res[i].Err, keystore.ErrTombstoned); tomb == want {
			t.Errorf("put %d: Err = %v", i, res[i].Err)
		}
		if !want && (res[i].Existing != nil || res[i].Collision) {
			t.Errorf("put %d of an erased owner = %+v", i, res[i])
		}
	}
	if got := get1(t, v, t0, "sg", "g", "7"); len(got) != 1 || got[0].Owner != "b" {
		t.Fatalf("mappings of token 7 = %+v, want only b's", got)
	}
	if got := get1(t, v, t0, "sg", "g", "8"); len(got) != 0 {
		t.Fatalf("an erased owner's mapping was stored: %+v", got)
	}
	found, err := v.FindTokens(ctx, t0, []keystore.TokenIndexRef{{Space: "sg", Partition: "g", Index: []byte("j")}})
	if err != nil || len(found[0]) != 0 {
		t.Fatalf("FindTokens of the erased owner's index = %+v, %v", found, err)
	}
	if n, _ := v.CountTokens(ctx, "sg", "g"); n != 2 {
		t.Fatalf("CountTokens = %d, want 2", n)
	}
}

// testPutTokensErasureRace: a put racing Delete of its Owner either is
// refused or lands before the erasure, which removes it; no mapping of
// an erased owner is left.
func testPutTokensErasureRace(t *testing.T, s keystore.Store) {
	ctx := context.Background()
	v := tokenVault(t, s)
	for i := range 20 {
		id := fmt.Sprint("race-", i)
		if _, _, err := s.Create(ctx, rec(id, "w")); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var res []keystore.TokenPutResult
		var d keystore.Deletion
		var putErr, delErr error
		wg.Add(2)
		go func() {
			defer wg.Done()
			res, putErr = v.PutTokens(ctx, t0, []keystore.TokenPut{
				{TokenMapping: tm("sg", "g", "other", fmt.Sprint("o", i), "", "x")},
				{TokenMapping: tm("sg", "g", id, fmt.Sprint("t", i), fmt.Sprint("i", i), "x")},
			})
		}()
		go func() {
			defer wg.Done()
			d, delErr = s.Delete(ctx, keystore.Tombstone{ID: id, Reason: "request"})
		}()
		wg.Wait()
		if putErr != nil || delErr != nil {
			t.Fatalf("PutTokens: %v; Delete: %v", putErr, delErr)
		}
		if !res[0].Stored {
			t.Fatalf("the other owner's put = %+v", res[0])
		}
		switch {
		case res[1].Stored && d.Tokens != 1:
			t.Fatalf("round %d: put stored, Delete removed %d mappings", i, d.Tokens)
		case !res[1].Stored && (!errors.Is(res[1].Err, keystore.ErrTombstoned) || d.Tokens != 0):
			t.Fatalf("round %d: put = %+v, Delete removed %d mappings", i, res[1], d.Tokens)
		}
		if got := get1(t, v, t0, "sg", "g", fmt.Sprint("t", i)); len(got) != 0 {
			t.Fatalf("round %d: an erased owner's mapping survived: %+v", i, got)
		}
	}
	if n, _ := v.CountTokens(ctx, "sg", "g"); n != 20 {
		t.Fatalf("CountTokens = %d, want 20", n)
	}
}

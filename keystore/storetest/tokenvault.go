package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/fieldcrypt/fieldcrypt/keystore"
)

// The cases of keystore.TokenVault, skipped for stores that do not
// implement it.

func tokenVault(t *testing.T, s keystore.Store) keystore.TokenVault {
	t.Helper()
	v, ok := s.(keystore.TokenVault)
	if !ok {
		t.Skip("the store does not implement keystore.TokenVault")
	}
	return v
}

func tm(space, part, owner, token, index, sealed string) keystore.TokenMapping {
	m := keystore.TokenMapping{Space: space, Partition: part, Owner: owner, Token: token, Sealed: []byte(sealed)}
	if index != "" {
		m.Index = []byte(index)
	}
	return m
}

func put1(t *testing.T, v keystore.TokenVault, now time.Time, p keystore.TokenPut) keystore.TokenPutResult {
	t.Helper()
	res, err := v.PutTokens(context.Background(), now, []keystore.TokenPut{p})
	if err != nil || len(res) != 1 {
		t.Fatalf("PutTokens = %v, %v", res, err)
	}
	return res[0]
}

func get1(t *testing.T, v keystore.TokenVault, now time.Time, space, part, token string) []keystore.TokenMapping {
	t.Helper()
	res, err := v.GetTokens(context.Background(), now, []keystore.TokenRef{{Space: space, Partition: part, Token: token}})
	if err != nil || len(res) != 1 {
		t.Fatalf("GetTokens = %v, %v", res, err)
	}
	return res[0]
}

// testTokenPutGet: stored mappings are found by token and by index;
// collisions, convergence, shared tokens and the occupancy limit behave as
// documented; invalid puts store nothing.
func testTokenPutGet(t *testing.T, s keystore.Store) {
	ctx := context.Background()
	v := tokenVault(t, s)
	now := t0
	r := put1(t, v, now, keystore.TokenPut{TokenMapping: tm("sp", "p1", "a", "1234", "", "ct-1")})
	if !r.Stored || r.Collision || r.Existing != nil || r.Err != nil {
		t.Fatalf("first put = %+v", r)
	}
	got := get1(t, v, now, "sp", "p1", "1234")
	if len(got) != 1 || string(got[0].Sealed) != "ct-1" || got[0].Owner != "a" || got[0].Created.IsZero() {
		t.Fatalf("GetTokens = %+v", got)
	}
	got[0].Sealed[0] = 'X' // a copy
	if again := get1(t, v, now, "sp", "p1", "1234"); string(again[0].Sealed) != "ct-1" {
		t.Fatal("GetTokens returned the store's own slice")
	}
	// Another space, another partition: separate.
	if len(get1(t, v, now, "sp", "p2", "1234")) != 0 || len(get1(t, v, now, "sq", "p1", "1234")) != 0 {
		t.Fatal("a token was found in another partition or space")
	}
	// The same token again: a collision, nothing stored.
	r = put1(t, v, now, keystore.TokenPut{TokenMapping: tm("sp", "p1", "b", "1234", "", "ct-2")})
	if !r.Collision || r.Stored {
		t.Fatalf("colliding put = %+v", r)
	}
	// Convergent: the same index returns the existing mapping.
	r = put1(t, v, now, keystore.TokenPut{TokenMapping: tm("sp", "p1", "a", "5555", "ix-1", "ct-3")})
	if !r.Stored {
		t.Fatalf("indexed put = %+v", r)
	}
	r = put1(t, v, now, keystore.TokenPut{TokenMapping: tm("sp", "p1", "a", "6666", "ix-1", "ct-4")})
	if r.Stored || r.Existing == nil || r.Existing.Token != "5555" {
		t.Fatalf("converging put = %+v", r)
	}
	found, err := v.FindTokens(ctx, now, []keystore.TokenIndexRef{{Space: "sp", Partition: "p1", Index: []byte("ix-1")}, {Space: "sp", Partition: "p1", Index: []byte("nope")}})
	if err != nil || len(found) != 2 || len(found[0]) != 1 || found[0][0].Token != "5555" || len(found[1]) != 0 {
		t.Fatalf("FindTokens = %+v, %v", found, err)
	}
	// Another owner with the same index: told the token; then storing its
	// own copy under that token is allowed.
	r = put1(t, v, now, keystore.TokenPut{TokenMapping: tm("sp", "p1", "b", "7777", "ix-1", "ct-b")})
	if r.Stored || r.Existing == nil || r.Existing.Token != "5555" {
		t.Fatalf("other owner's converging put = %+v", r)
	}
	r = put1(t, v, now, keystore.TokenPut{TokenMapping: tm("sp", "p1", "b", "5555", "ix-1", "ct-b")})
	if !r.Stored {
		t.Fatalf("other owner's copy = %+v", r)
	}
	if got := get1(t, v, now, "sp", "p1", "5555"); len(got) != 2 {
		t.Fatalf("shared token has %d mappings, want 2", len(got))
	}
	// A token held under another index is a collision.
	r = put1(t, v, now, keystore.TokenPut{TokenMapping: tm("sp", "p1", "c", "5555", "ix-2", "ct-c")})
	if !r.Collision {
		t.Fatalf("token under another index = %+v", r)
	}
	// The limit: p1 holds 3 mappings.
	if n, err := v.CountTokens(ctx, "sp", "p1"); err != nil || n != 3 {
		t.Fatalf("CountTokens = %d, %v; want 3", n, err)
	}
	r = put1(t, v, now, keystore.TokenPut{TokenMapping: tm("sp", "p1", "c", "8888", "", "ct-5"), Limit: 3})
	if !errors.Is(r.Err, keystore.ErrTokenSpaceFull) || r.Stored {
		t.Fatalf("put into a full partition = %+v", r)
	}
	r = put1(t, v, now, keystore.TokenPut{TokenMapping: tm("sp", "p1", "c", "8888", "", "ct-5"), Limit: 4})
	if !r.Stored {
		t.Fatalf("put under the limit = %+v", r)
	}
	// Invalid puts: the whole call fails, nothing is stored.
	bad := []keystore.TokenMapping{
		tm("", "p1", "a", "1", "", "x"), tm("sp", "", "a", "1", "", "x"), tm("sp", "p1", "a", "", "", "x"),
		tm("sp", "p1", "a", "1", "", ""), tm("sp", "p1", "bad id", "1", "", "x"), tm("sp", "p1", "a", "\xff", "", "x"),
	}
	for _, m := range bad {
		_, err := v.PutTokens(ctx, now, []keystore.TokenPut{{TokenMapping: tm("sp", "p9", "a", "1", "", "x")}, {TokenMapping: m}})
		if !errors.Is(err, keystore.ErrInvalid) {
			t.Fatalf("PutTokens(%+v) = %v, want ErrInvalid", m, err)
		}
	}
	if n, _ := v.CountTokens(ctx, "sp", "p9"); n != 0 {
		t.Fatal("an invalid call stored a mapping")
	}
}

// testTokenErasure: Delete removes the erased ID's mappings with its keys,
// counts them in the Deletion and the receipt, and leaves other owners'
// and ownerless mappings alone.
func testTokenErasure(t *testing.T, s keystore.Store) {
	ctx := context.Background()
	v := tokenVault(t, s)
	for _, id := range []string{"a", "b"} {
		if _, _, err := s.Create(ctx, rec(id, "w-"+id)); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range []keystore.TokenMapping{
		tm("sp", "pa", "a", "1", "", "x"), tm("sp", "pa", "a", "2", "", "x"), tm("sg", "g", "a", "7", "i", "x"),
		tm("sg", "g", "b", "7", "i", "y"), tm("sg", "g", "", "9", "", "z"),
	} {
		if r := put1(t, v, t0, keystore.TokenPut{TokenMapping: m}); !r.Stored {
			t.Fatalf("put %+v = %+v", m, r)
		}
	}
	d, err := s.Delete(ctx, keystore.Tombstone{ID: "a", Reason: "request"})
	if err != nil || d.Tokens != 3 {
		t.Fatalf("Delete = %+v, %v; want 3 tokens", d, err)
	}
	rs, err := s.Receipts(ctx, keystore.ReceiptQuery{ID: "a", Limit: 10})
	if err != nil || len(rs) != 1 || rs[0].Tokens != 3 {
		t.Fatalf("Receipts = %+v, %v", rs, err)
	}
	if len(get1(t, v, t0, "sp", "pa", "1")) != 0 {
		t.Fatal("an erased ID's mapping survived")
	}
	if got := get1(t, v, t0, "sg", "g", "7"); len(got) != 1 || got[0].Owner != "b" {
		t.Fatalf("shared token after erasing one owner = %+v", got)
	}
	if len(get1(t, v, t0, "sg", "g", "9")) != 1 {
		t.Fatal("an ownerless mapping was erased")
	}
	if n, _ := v.CountTokens(ctx, "sp", "pa"); n != 0 {
		t.Fatalf("CountTokens after erasure = %d", n)
	}
	if n, _ := v.CountTokens(ctx, "sg", "g"); n != 2 {
		t.Fatalf("CountTokens of the shared partition = %d, want 2", n)
	}
	// Erasing again removes nothing more.
	if d, err := s.Delete(ctx, keystore.Tombstone{ID: "a", Reason: "request"}); err != nil || d.Tokens != 0 {
		t.Fatalf("second Delete = %+v, %v", d, err)
	}
}

// testTokenReaddress: mappings move with their owner's record, and go
// with it when the move merges into a tombstone.
func testTokenReaddress(t *testing.T, s keystore.Store) {
	ctx := context.Background()
	v := tokenVault(t, s)
	r := readdresser(t, s)
	stored, _, err := s.Create(ctx, rec("a", "w-a"))
	if err != nil {
		t.Fatal(err)
	}
	if p := put1(t, v, t0, keystore.TokenPut{TokenMapping: tm("sp", "pa", "a", "1", "i", "x")}); !p.Stored {
		t.Fatal(p)
	}
	moved := stored
	moved.Wrapped = []byte("w-a2")
	if _, err := r.Readdress(ctx, keystore.Move{From: "a", To: "a2", Record: &moved}); err != nil {
		t.Fatal(err)
	}
	got := get1(t, v, t0, "sp", "pa", "1")
	if len(got) != 1 || got[0].Owner != "a2" {
		t.Fatalf("after Readdress = %+v, want owner a2", got)
	}
	if d, err := s.Delete(ctx, keystore.Tombstone{ID: "a2", Reason: "request"}); err != nil || d.Tokens != 1 {
		t.Fatalf("Delete(a2) = %+v, %v", d, err)
	}
	// Merging into a tombstone erases the source's mappings.
	if _, _, err := s.Create(ctx, rec("b", "w-b")); err != nil {
		t.Fatal(err)
	}
	if p := put1(t, v, t0, keystore.TokenPut{TokenMapping: tm("sp", "pb", "b", "1", "", "x")}); !p.Stored {
		t.Fatal(p)
	}
	if _, err := s.Delete(ctx, keystore.Tombstone{ID: "b2", Reason: "request"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Readdress(ctx, keystore.Move{From: "b", To: "b2"}); err != nil {
		t.Fatal(err)
	}
	if len(get1(t, v, t0, "sp", "pb", "1")) != 0 {
		t.Fatal("a mapping survived the merge into a tombstone")
	}
	rs, err := s.Receipts(ctx, keystore.ReceiptQuery{ID: "b2", Limit: 10})
	var n int64
	for _, x := range rs {
		n += x.Tokens
	}
	if err != nil || n != 1 {
		t.Fatalf("receipts of the merge = %+v, %v; want 1 token counted", rs, err)
	}
}

// testTokenExpiry: expired mappings are absent to every lookup, do not
// block a new put, and ExpireTokens removes them.
func testTokenExpiry(t *testing.T, s keystore.Store) {
	ctx := context.Background()
	v := tokenVault(t, s)
	m := tm("sp", "p", "a", "1", "ix", "x")
	m.ExpiresAt = t0.Add(time.Hour)
	if p := put1(t, v, t0, keystore.TokenPut{TokenMapping: m}); !p.Stored {
		t.Fatal(p)
	}
	later := t0.Add(2 * time.Hour)
	if len(get1(t, v, t0, "sp", "p", "1")) != 1 || len(get1(t, v, later, "sp", "p", "1")) != 0 {
		t.Fatal("expiry is not respected by GetTokens")
	}
	found, err := v.FindTokens(ctx, later, []keystore.TokenIndexRef{{Space: "sp", Partition: "p", Index: []byte("ix")}})
	if err != nil || len(found[0]) != 0 {
		t.Fatalf("FindTokens after expiry = %+v, %v", found, err)
	}
	// A new mapping of the same index and token replaces the expired one.
	if p := put1(t, v, later, keystore.TokenPut{TokenMapping: tm("sp", "p", "a", "1", "ix", "y"), Limit: 1}); !p.Stored {
		t.Fatalf("put over an expired mapping = %+v", p)
	}
	m2 := tm("sp", "q", "a", "5", "", "x")
	m2.ExpiresAt = t0.Add(time.Minute)
	put1(t, v, t0, keystore.TokenPut{TokenMapping: m2})
	n, err := v.ExpireTokens(ctx, later, 10)
	if err != nil || n != 1 {
		t.Fatalf("ExpireTokens = %d, %v; want 1", n, err)
	}
	if c, _ := v.CountTokens(ctx, "sp", "q"); c != 0 {
		t.Fatalf("CountTokens after expiry = %d", c)
	}
	if got := get1(t, v, later, "sp", "p", "1"); len(got) != 1 || string(got[0].Sealed) != "y" {
		t.Fatalf("the replacing mapping = %+v", got)
	}
}

// testTokenPutRace: concurrent puts of one token store it once.
func testTokenPutRace(t *testing.T, s keystore.Store) {
	v := tokenVault(t, s)
	var wg sync.WaitGroup
	stored := make(chan bool, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := v.PutTokens(context.Background(), t0, []keystore.TokenPut{{TokenMapping: tm("sp", "p", "o"+string(rune('a'+i)), "42", "", "x")}})
			if err != nil {
				t.Error(err)
				return
			}
			stored <- res[0].Stored
		}()
	}
	wg.Wait()
	close(stored)
	n := 0
	for ok := range stored {
		if ok {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d concurrent puts of one token stored it, want 1", n)
	}
}

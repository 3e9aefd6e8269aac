package pii_test

import (
	"context"
	"encoding/base64"
	"slices"
	"testing"

	"github.com/fieldcrypt/fieldcrypt/internal/subjectkey"
	"github.com/fieldcrypt/fieldcrypt/keystore"
	"github.com/fieldcrypt/fieldcrypt/keystore/memory"
	"github.com/fieldcrypt/fieldcrypt/kms/kmstest"
	"github.com/fieldcrypt/fieldcrypt/pii"
)

// globalBundle unwraps the global record of store.
func globalBundle(t *testing.T, kek *kmstest.KEK, store keystore.Store) *subjectkey.Bundle {
	t.Helper()
	ctx := context.Background()
	rec, err := store.Get(ctx, "fieldcrypt.global")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := kek.Decrypt(ctx, rec.Wrapped, subjectkey.WrapAssociatedData(rec.ID))
	if err != nil {
		t.Fatal(err)
	}
	b, err := subjectkey.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestReviewI3GlobalTokenKeyIsSeparateAndRotatable: a new store's global
// keys hold a token key independent of the addressing key; a store made
// before (one key for both) keeps its addresses and tokens, and upgrades
// by RotateGlobalTokenKey, after which old tokens are re-tokenized by
// opening with the pinned old key and sealing with the new one.
func TestReviewI3GlobalTokenKeyIsSeparateAndRotatable(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	if !globalBundle(t, e.kek, e.store).HasTokenKey() {
		t.Error("a new store's global keys have no separate token key")
	}
	ids, inUse := e.p.GlobalTokenKeys()
	if len(ids) != 1 || !slices.Contains(globalBundle(t, e.kek, e.store).KeyIDs(), inUse) {
		t.Errorf("GlobalTokenKeys = %v, %d", ids, inUse)
	}

	// A store initialized the old way: one global PRF for both uses.
	kek, store := kmstest.New("test:1"), memory.New()
	legacy, err := subjectkey.New()
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := legacy.Marshal()
	wrapped, err := kek.Encrypt(ctx, raw, subjectkey.WrapAssociatedData("fieldcrypt.global"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := store.Create(ctx, keystore.Record{ID: "fieldcrypt.global", KEKID: kek.ID(), Wrapped: wrapped, KeyIDs: legacy.KeyIDs()}); err != nil {
		t.Fatal(err)
	}
	old, err := pii.New(ctx, kek, store)
	if err != nil {
		t.Fatal(err)
	}
	// Same addressing and token derivation as before the separation.
	lk, _ := legacy.Keys()
	mac, _ := lk.PRF.ComputePrimaryPRF([]byte("fieldcrypt/subject/v1\x00alice"), 32)
	if id := old.RecordID("alice"); id != "s."+base64.RawURLEncoding.EncodeToString(mac) {
		t.Fatalf("legacy store: record ID %q is not the legacy PRF's", id)
	}
	want := samplePayment("alice")
	rec := want
	if err := old.Seal(ctx, &rec); err != nil {
		t.Fatal(err)
	}
	oldIDs, oldKey := old.GlobalTokenKeys()

	// Upgrade: a separate token key, current from now on.
	newKey, err := old.RotateGlobalTokenKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cur, err := pii.New(ctx, kek, store)
	if err != nil {
		t.Fatal(err)
	}
	if ids, inUse := cur.GlobalTokenKeys(); inUse != newKey || slices.Contains(oldIDs, newKey) || len(ids) != 1 {
		t.Errorf("after the upgrade GlobalTokenKeys = %v, %d; want only the new key %d", ids, inUse, newKey)
	}
	if cur.RecordID("alice") != old.RecordID("alice") {
		t.Error("the upgrade changed record addresses")
	}
	pinned, err := pii.New(ctx, kek, store, pii.WithGlobalTokenKey(oldKey))
	if err != nil {
		t.Fatalf("pinning the pre-upgrade token key: %v", err)
	}
	// Re-tokenize: open with the old key, seal with the new.
	x := rec
	if err := pinned.Open(ctx, &x); err != nil || x.Join != want.Join {
		t.Fatalf("pinned Open of an old token = %q, %v", x.Join, err)
	}
	if err := cur.Seal(ctx, &x); err != nil {
		t.Fatal(err)
	}
	if x.Join == rec.Join {
		t.Error("the new token key makes the same tokens as the old one")
	}
	y := x
	if err := cur.Open(ctx, &y); err != nil || y.Join != want.Join || y.Card != want.Card {
		t.Errorf("Open after re-tokenizing = %+v, %v", y, err)
	}
	if _, err := pii.New(ctx, kek, store, pii.WithGlobalTokenKey(12345)); err == nil {
		t.Error("pinning an unknown token key was accepted")
	}
}

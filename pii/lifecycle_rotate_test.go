package pii_test

import (
	"context"
	"errors"
	"testing"

	"github.com/fieldcrypt/fieldcrypt/kms/kmstest"
	"github.com/fieldcrypt/fieldcrypt/pii"
)

// TestReviewL13RotationsStayWrappableWithPruning: 50 rotations, each
// followed by pruning to 3 keys, keep the bundle far under AWS KMS's
// 4,096-byte limit; without pruning, rotation stops with a clear
// *BundleSizeError before the KEK is asked to wrap.
func TestReviewL13RotationsStayWrappableWithPruning(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	first := sealed(t, e.p, "pruned", "first")
	var last Customer
	for i := range 50 {
		if _, err := e.p.RotateSubjectKey(ctx, "pruned"); err != nil {
			t.Fatalf("rotation %d: %v", i+1, err)
		}
		last = sealed(t, e.p, "pruned", "latest") // re-sealed under the newest key
		if _, err := e.p.PruneSubjectKeys(ctx, "pruned", 3); err != nil {
			t.Fatalf("prune after rotation %d: %v", i+1, err)
		}
	}
	rec, err := e.store.Get(ctx, e.p.RecordID("pruned"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Wrapped) >= 4096 || len(rec.KeyIDs) != 5 { // 3 AEAD + DAEAD + PRF
		t.Errorf("after 50 rotations with pruning: %d wrapped bytes, %d keys", len(rec.Wrapped), len(rec.KeyIDs))
	}
	p2 := e.protector(t) // reads the store, not the cache
	if name, err := openErr(p2, last); err != nil || name != "latest" {
		t.Errorf("value sealed under the newest key: %q, %v", name, err)
	}
	if _, err := openErr(p2, first); !errors.Is(err, pii.ErrAuthentication) {
		t.Errorf("value sealed under a pruned key: Open = %v, want ErrAuthentication", err)
	}
	if _, err := e.p.PruneSubjectKeys(ctx, "pruned", 0); !errors.Is(err, pii.ErrInvalidArgument) {
		t.Errorf("PruneSubjectKeys(keep=0) = %v, want ErrInvalidArgument", err)
	}
	if _, err := e.p.PruneSubjectKeys(ctx, "nobody", 1); !errors.Is(err, pii.ErrKeyNotFound) {
		t.Errorf("PruneSubjectKeys(unknown) = %v, want ErrKeyNotFound", err)
	}

	// Without pruning: a clear error before the limit, nothing changed.
	sealed(t, e.p, "unpruned", "x")
	var sizeErr *pii.BundleSizeError
	for i := range 60 {
		before := e.kek.Calls(kmstest.OpEncrypt)
		_, err := e.p.RotateSubjectKey(ctx, "unpruned")
		if err == nil {
			continue
		}
		if !errors.As(err, &sizeErr) || !errors.Is(err, pii.ErrBundleTooLarge) || sizeErr.Limit != pii.DefaultMaxBundleSize || sizeErr.Size <= sizeErr.Limit {
			t.Fatalf("rotation %d: %v; want a *BundleSizeError at the 4,096-byte limit", i+1, err)
		}
		if e.kek.Calls(kmstest.OpEncrypt) != before {
			t.Error("the KEK was asked to wrap an oversized bundle")
		}
		break
	}
	if sizeErr == nil {
		t.Fatal("60 rotations without pruning never reached the limit")
	}
	if _, err := e.p.PruneSubjectKeys(ctx, "unpruned", 2); err != nil {
		t.Fatal(err)
	}
	if _, err := e.p.RotateSubjectKey(ctx, "unpruned"); err != nil {
		t.Errorf("rotation after pruning: %v", err)
	}
}

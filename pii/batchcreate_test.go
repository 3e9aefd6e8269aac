package pii_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/fieldcrypt/fieldcrypt/keystore"
	"github.com/fieldcrypt/fieldcrypt/keystore/memory"
	"github.com/fieldcrypt/fieldcrypt/kms/kmstest"
	"github.com/fieldcrypt/fieldcrypt/pii"
)

// batchStore counts how a Protector creates records, and runs before the
// first CreateMany whatever the test wants to race with it.
type batchStore struct {
	*memory.Store
	creates, batches atomic.Int64
	gets, getBatches atomic.Int64
	before           func()
}

func (s *batchStore) Get(ctx context.Context, id string) (keystore.Record, error) {
	s.gets.Add(1)
	return s.Store.Get(ctx, id)
}

func (s *batchStore) GetMany(ctx context.Context, ids []string) ([]keystore.GetResult, error) {
	s.getBatches.Add(1)
	return s.Store.GetMany(ctx, ids)
}

func (s *batchStore) Create(ctx context.Context, rec keystore.Record) (keystore.Record, bool, error) {
	s.creates.Add(1)
	return s.Store.Create(ctx, rec)
}

func (s *batchStore) CreateMany(ctx context.Context, recs []keystore.Record) ([]keystore.CreateResult, error) {
	if s.batches.Add(1) == 1 && s.before != nil {
		s.before()
	}
	return s.Store.CreateMany(ctx, recs)
}

type batchRec struct {
	ID   string `pii:"subject"`
	Name string `pii:"encrypt"`
}

// SealAll of new subjects stores their keys in one CreateMany per batch,
// not one Create each.
func TestSealAllCreatesInBatches(t *testing.T) {
	ctx := context.Background()
	store := &batchStore{Store: memory.New()}
	kek := kmstest.New("k:1")
	p, err := pii.New(ctx, kek, store, pii.WithBatchSize(100))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	before, beforeGets := store.creates.Load(), store.gets.Load() // the global record
	recs := make([]batchRec, 250)
	for i := range recs {
		recs[i] = batchRec{ID: fmt.Sprintf("subject-%d", i), Name: "n"}
	}
	if err := p.SealAll(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if n := store.creates.Load() - before; n != 0 {
		t.Errorf("SealAll of 250 new subjects made %d single Creates", n)
	}
	if n := store.batches.Load(); n != 3 {
		t.Errorf("SealAll of 250 new subjects in batches of 100 made %d CreateMany calls, want 3", n)
	}
	// One Get: the global record, read once to check that the addressing
	// key was not rotated elsewhere (keys.go, refresh).
	if n := store.gets.Load() - beforeGets; n > 1 {
		t.Errorf("SealAll of 250 new subjects made %d single Gets, want at most 1", n)
	}
	// Another process, its cache empty, reads the keys in batches too.
	fresh, err := pii.New(ctx, kek, store, pii.WithBatchSize(100))
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	gets, batches := store.gets.Load(), store.getBatches.Load()
	if err := fresh.OpenAll(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if n := store.gets.Load() - gets; n != 0 {
		t.Errorf("OpenAll of 250 uncached subjects made %d single Gets", n)
	}
	if n := store.getBatches.Load() - batches; n != 3 {
		t.Errorf("OpenAll of 250 uncached subjects in batches of 100 made %d GetMany calls, want 3", n)
	}
	for i, r := range recs {
		if r.Name != "n" {
			t.Fatalf("record %d opened to %q", i, r.Name)
		}
	}
}

// Between SealAll's look-up and its batched creation, another process
// creates one subject's keys and erases another: the first is sealed
// under the winner's keys, and the erasure wins over the creation.
func TestSealAllBatchCreationRaces(t *testing.T) {
	ctx := context.Background()
	kek := kmstest.New("k:1")
	store := &batchStore{Store: memory.New()}
	p, err := pii.New(ctx, kek, store)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	other, err := pii.New(ctx, kek, store)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	store.before = func() {
		won := batchRec{ID: "raced", Name: "theirs"}
		if err := other.Seal(ctx, &won); err != nil {
			t.Error(err)
		}
		if _, err := other.Forget(ctx, "erased"); err != nil {
			t.Error(err)
		}
	}
	recs := []batchRec{{ID: "fresh", Name: "a"}, {ID: "raced", Name: "b"}, {ID: "erased", Name: "c"}}
	err = p.SealAll(ctx, recs)
	if !errors.Is(err, pii.ErrForgotten) {
		t.Fatalf("SealAll with a subject erased during creation = %v, want ErrForgotten", err)
	}
	if recs[2].Name != "c" || recs[0].Name != "a" {
		t.Errorf("a failed SealAll changed its input: %+v", recs)
	}
	if store.batches.Load() == 0 {
		t.Fatal("SealAll did not create in a batch")
	}
	if _, err := store.Get(ctx, p.RecordID("erased")); !errors.Is(err, keystore.ErrTombstoned) {
		t.Errorf("the erased subject's record: Get = %v, want ErrTombstoned", err)
	}
	// The erased subject's keys were not created; the raced subject has
	// the other process's keys, and this Protector uses them.
	ok := []batchRec{{ID: "fresh", Name: "a"}, {ID: "raced", Name: "b"}}
	if err := p.SealAll(ctx, ok); err != nil {
		t.Fatal(err)
	}
	if err := other.OpenAll(ctx, ok); err != nil {
		t.Fatalf("the winner's keys did not open what the loser sealed: %v", err)
	}
	if ok[1].Name != "b" {
		t.Errorf("opened %q", ok[1].Name)
	}
	if err := p.Seal(ctx, &batchRec{ID: "erased", Name: "c"}); !errors.Is(err, pii.ErrForgotten) {
		t.Errorf("Seal of the erased subject = %v, want ErrForgotten", err)
	}
}

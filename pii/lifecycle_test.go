package pii_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fieldcrypt/fieldcrypt/keystore"
	"github.com/fieldcrypt/fieldcrypt/kms/kmstest"
	"github.com/fieldcrypt/fieldcrypt/pii"
)

// gate holds the next call of one KEK operation until released, so that a
// key load can be kept in flight deterministically (no sleeps).
type gate struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

// holdNext makes the next call of op on kek wait until the returned gate is
// released; later calls pass.
func holdNext(kek *kmstest.KEK, op kmstest.Op) *gate {
	g := &gate{entered: make(chan struct{}), release: make(chan struct{})}
	var mu sync.Mutex
	used := false
	kek.SetFault(func(o kmstest.Op) error {
		if o != op {
			return nil
		}
		mu.Lock()
		first := !used
		used = true
		mu.Unlock()
		if first {
			close(g.entered)
			<-g.release
		}
		return nil
	})
	return g
}

func (g *gate) open() { g.once.Do(func() { close(g.release) }) }

// sealed returns a record of subject sealed by p.
func sealed(t *testing.T, p *pii.Protector, subject, name string) Customer {
	t.Helper()
	c := Customer{ID: subject, Name: name}
	if err := p.Seal(context.Background(), &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func openErr(p *pii.Protector, c Customer) (string, error) {
	err := p.Open(context.Background(), &c)
	return c.Name, err
}

// TestReviewM1ForgetUndoneByLRUEvictionOfNegativeEntry: a load in flight
// during Forget must not cache the erased key after other subjects' loads
// have pushed Forget's negative entry out of the LRU.
func TestReviewM1ForgetUndoneByLRUEvictionOfNegativeEntry(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	victim := sealed(t, e.p, "victim", "erase me")
	p := e.protector(t, pii.WithKeyCache(2, time.Hour))
	g := holdNext(e.kek, kmstest.OpDecrypt)
	done := make(chan error, 1)
	go func() { _, err := openErr(p, victim); done <- err }()
	<-g.entered
	if _, err := p.Forget(ctx, "victim"); err != nil {
		t.Fatal(err)
	}
	sealed(t, p, "other1", "x") // fill the LRU: the negative entry is evicted
	sealed(t, p, "other2", "x")
	g.open()
	<-done
	if name, err := openErr(p, victim); !errors.Is(err, pii.ErrForgotten) {
		t.Errorf("Open after Forget returned (LRU pressure): %q, %v; want ErrForgotten", name, err)
	}
}

// TestReviewM1ForgetUndoneWhenLoadOutlivesTTL: the guard must outlive the
// cache TTL while a load is in flight.
func TestReviewM1ForgetUndoneWhenLoadOutlivesTTL(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	e := newEnv(t)
	ctx := context.Background()
	victim := sealed(t, e.p, "victim", "erase me")
	p := e.protector(t, pii.WithKeyCache(10, time.Minute), pii.WithClock(clock.Now))
	g := holdNext(e.kek, kmstest.OpDecrypt)
	done := make(chan error, 1)
	go func() { _, err := openErr(p, victim); done <- err }()
	<-g.entered
	if _, err := p.Forget(ctx, "victim"); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Minute) // the unwrap outlives the TTL
	g.open()
	<-done
	if name, err := openErr(p, victim); !errors.Is(err, pii.ErrForgotten) {
		t.Errorf("Open after Forget returned (load outlived the TTL): %q, %v; want ErrForgotten", name, err)
	}
}

// TestReviewM1ForgetReadmitRaceResurrectsErasedKey: a load of the old key
// in flight across Forget and Readmit must not cache it: pre-erasure data
// must stay unreadable, and data sealed after the Readmit must be sealed
// under the new key in the store (readable by a fresh process).
func TestReviewM1ForgetReadmitRaceResurrectsErasedKey(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	old := sealed(t, e.p, "victim", "data from before the erasure")
	p := e.protector(t)
	g := holdNext(e.kek, kmstest.OpDecrypt)
	done := make(chan error, 1)
	go func() { _, err := openErr(p, old); done <- err }()
	<-g.entered
	if _, err := p.Forget(ctx, "victim"); err != nil {
		t.Fatal(err)
	}
	if err := p.Readmit(ctx, "victim"); err != nil {
		t.Fatal(err)
	}
	g.open()
	if err := <-done; err == nil {
		t.Error("the Open in flight across Forget+Readmit succeeded with the erased key")
	}
	if name, err := openErr(p, old); err == nil {
		t.Errorf("Open of pre-erasure data after Forget+Readmit = %q, <nil>; want a failure", name)
	}
	fresh := sealed(t, p, "victim", "after readmission")
	if name, err := openErr(e.protector(t), fresh); err != nil || name != "after readmission" {
		t.Errorf("fresh process: Open of post-readmit data = %q, %v", name, err)
	}
}

// TestReviewM1BatchLoadOutlivesForget: the SealAll/OpenAll path (getMany)
// keeps the same guard.
func TestReviewM1BatchLoadOutlivesForget(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	e := newEnv(t)
	ctx := context.Background()
	recs := []Customer{sealed(t, e.p, "victim", "erase me"), sealed(t, e.p, "bystander", "keep me")}
	p := e.protector(t, pii.WithKeyCache(2, time.Minute), pii.WithClock(clock.Now))
	g := holdNext(e.kek, kmstest.OpDecryptBatch)
	done := make(chan error, 1)
	go func() {
		cp := append([]Customer(nil), recs...)
		done <- p.OpenAll(ctx, cp)
	}()
	<-g.entered
	if _, err := p.Forget(ctx, "victim"); err != nil {
		t.Fatal(err)
	}
	sealed(t, p, "other1", "x")
	clock.Advance(2 * time.Minute)
	g.open()
	<-done
	if name, err := openErr(p, recs[0]); !errors.Is(err, pii.ErrForgotten) {
		t.Errorf("Open after Forget raced a batch load: %q, %v; want ErrForgotten", name, err)
	}
	cp := append([]Customer(nil), recs...)
	if err := p.OpenAll(ctx, cp); !errors.Is(err, pii.ErrForgotten) {
		t.Errorf("OpenAll after Forget raced a batch load = %v; want ErrForgotten", err)
	}
}

// commitThenFail is a store whose Delete commits and then reports an error,
// as a lost connection after COMMIT would.
type commitThenFail struct{ keystore.Store }

func (s commitThenFail) Delete(ctx context.Context, t keystore.Tombstone) (keystore.Deletion, error) {
	if _, err := s.Store.Delete(ctx, t); err != nil {
		return keystore.Deletion{}, err
	}
	return keystore.Deletion{}, errors.New("connection reset by peer (after commit)")
}

// TestReviewL2ForgetErrorAfterCommitKeepsKeyCached: a Forget whose store
// call committed but failed must not leave the key cached.
func TestReviewL2ForgetErrorAfterCommitKeepsKeyCached(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	p, err := pii.New(ctx, e.kek, commitThenFail{e.store})
	if err != nil {
		t.Fatal(err)
	}
	c := sealed(t, p, "victim", "secret")
	if _, err := openErr(p, c); err != nil { // cached now
		t.Fatal(err)
	}
	if _, err := p.Forget(ctx, "victim"); err == nil {
		t.Fatal("Forget reported no error")
	}
	if name, err := openErr(p, c); !errors.Is(err, pii.ErrForgotten) {
		t.Errorf("Open after a Forget that committed and then failed = %q, %v; want ErrForgotten", name, err)
	}
}

// TestReviewL12ForgetOfNeverSealedSubjectIsNotAlreadyErased: the first
// Forget of a subject without keys writes the tombstone; only a repeat is
// AlreadyErased.
func TestReviewL12ForgetOfNeverSealedSubjectIsNotAlreadyErased(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	r, err := e.p.Forget(ctx, "never-sealed")
	if err != nil || r.AlreadyErased || len(r.KeyIDs) != 0 {
		t.Errorf("first Forget of a never-sealed subject = %+v, %v; want AlreadyErased=false", r, err)
	}
	r2, err := e.p.Forget(ctx, "never-sealed")
	if err != nil || !r2.AlreadyErased || !r2.ErasedAt.Equal(r.ErasedAt) {
		t.Errorf("repeated Forget = %+v, %v; want AlreadyErased with the first erasure's time %v", r2, err, r.ErasedAt)
	}
	sealed(t, e.p, "sealed", "x")
	r, err = e.p.Forget(ctx, "sealed")
	if err != nil || r.AlreadyErased || len(r.KeyIDs) == 0 {
		t.Errorf("Forget of a sealed subject = %+v, %v", r, err)
	}
}

var _ = fmt.Sprint

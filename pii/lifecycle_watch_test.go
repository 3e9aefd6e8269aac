package pii_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fieldcrypt/fieldcrypt/keystore"
	"github.com/fieldcrypt/fieldcrypt/keystore/memory"
	"github.com/fieldcrypt/fieldcrypt/kms/kmstest"
	"github.com/fieldcrypt/fieldcrypt/pii"
)

// watchedStore is a memory store with a fake erasure watcher: the test
// fires the events of each Protector's watcher itself, deterministically.
type watchedStore struct {
	*memory.Store
	gets    atomic.Int64
	mu      sync.Mutex
	watches []keystore.ErasureEvents
	started chan struct{}
}

func newWatchedStore() *watchedStore {
	return &watchedStore{Store: memory.New(), started: make(chan struct{}, 16)}
}

func (s *watchedStore) Get(ctx context.Context, id string) (keystore.Record, error) {
	s.gets.Add(1)
	return s.Store.Get(ctx, id)
}

func (s *watchedStore) WatchErasures(ctx context.Context, ev keystore.ErasureEvents) error {
	s.mu.Lock()
	s.watches = append(s.watches, ev)
	s.mu.Unlock()
	s.started <- struct{}{}
	<-ctx.Done()
	return ctx.Err()
}

// events returns the callbacks of the i-th watcher started.
func (s *watchedStore) events(i int) keystore.ErasureEvents {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.watches[i]
}

// watched returns a Protector on s and its watcher's callbacks.
func watched(t *testing.T, kek *kmstest.KEK, s *watchedStore, opts ...pii.Option) (*pii.Protector, keystore.ErasureEvents) {
	t.Helper()
	p, err := pii.New(context.Background(), kek, s, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	<-s.started
	s.mu.Lock()
	n := len(s.watches)
	s.mu.Unlock()
	return p, s.events(n - 1)
}

// TestReviewL15ReadmitNotRefusedAfterAnnouncedErasure: after Forget (and
// its announcement) and Readmit (and its), the same instance can seal at
// once, and another instance can open what was sealed after the Readmit.
func TestReviewL15ReadmitNotRefusedAfterAnnouncedErasure(t *testing.T) {
	ctx := context.Background()
	kek, s := kmstest.New("test:1"), newWatchedStore()
	p1, ev1 := watched(t, kek, s)
	p2, ev2 := watched(t, kek, s)
	for _, ev := range []keystore.ErasureEvents{ev1, ev2} {
		ev.Listening()
	}
	old := sealed(t, p1, "back", "before")
	if _, err := openErr(p2, old); err != nil {
		t.Fatal(err)
	}
	r, err := p1.Forget(ctx, "back")
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range []keystore.ErasureEvents{ev1, ev2} {
		ev.Erased(r.Subject)
	}
	if _, err := openErr(p2, old); !errors.Is(err, pii.ErrForgotten) {
		t.Errorf("other instance after the announced erasure: Open = %v, want ErrForgotten", err)
	}
	if err := p1.Readmit(ctx, "back"); err != nil {
		t.Fatal(err)
	}
	for _, ev := range []keystore.ErasureEvents{ev1, ev2} {
		ev.Readmitted(r.Subject)
	}
	c := Customer{ID: "back", Name: "after"}
	if err := p1.Seal(ctx, &c); err != nil {
		t.Fatalf("same instance, Seal right after its own Readmit: %v", err)
	}
	if name, err := openErr(p2, c); err != nil || name != "after" {
		t.Errorf("other instance, Open of the readmitted subject's new data: %q, %v", name, err)
	}
	if _, err := openErr(p2, old); err == nil {
		t.Error("other instance opened pre-erasure data after the readmission")
	}
}

// TestReviewL15ReadmittedAnnouncementIsConfirmed: a readmission announced
// while the tombstone still stands (forged) leaves the subject forgotten
// and its negative entry in place.
func TestReviewL15ReadmittedAnnouncementIsConfirmed(t *testing.T) {
	ctx := context.Background()
	kek, s := kmstest.New("test:1"), newWatchedStore()
	p, ev := watched(t, kek, s)
	ev.Listening()
	c := sealed(t, p, "gone", "x")
	r, err := p.Forget(ctx, "gone")
	if err != nil {
		t.Fatal(err)
	}
	ev.Readmitted(r.Subject) // forged: the tombstone stands
	before := s.gets.Load()
	if _, err := openErr(p, c); !errors.Is(err, pii.ErrForgotten) {
		t.Errorf("Open after a forged readmission = %v, want ErrForgotten", err)
	}
	if n := s.gets.Load() - before; n != 0 {
		t.Errorf("a forged readmission dropped the negative entry (%d store reads)", n)
	}
}

// TestReviewM4ForgedErasureNotifications: an announced erasure of a live
// subject is a hint: the subject stays readable, and 20,000 forged
// announcements (even with a load in flight) keep memory bounded.
func TestReviewM4ForgedErasureNotifications(t *testing.T) {
	kek, s := kmstest.New("test:1"), newWatchedStore()
	p, ev := watched(t, kek, s)
	ev.Listening()
	live := sealed(t, p, "live", "still here")
	ev.Erased(p.RecordID("live"))
	if name, err := openErr(p, live); err != nil || name != "still here" {
		t.Errorf("Open of a live subject after a forged erasure = %q, %v", name, err)
	}

	other := sealed(t, e2(t, kek, s), "slow", "x")
	g := holdNext(kek, kmstest.OpDecrypt)
	done := make(chan error, 1)
	go func() { _, err := openErr(p, other); done <- err }()
	<-g.entered
	for i := range 20_000 {
		ev.Erased(fmt.Sprintf("s.forged%038d", i))
	}
	marks := p.GuardMarks()
	g.open()
	if err := <-done; err != nil {
		t.Errorf("the load in flight during the flood = %v (it must load again, not fail)", err)
	}
	if marks > 10_000 {
		t.Errorf("20,000 forged announcements kept %d marks", marks)
	}
	if n := p.GuardMarks(); n != 0 {
		t.Errorf("%d marks kept with no load in flight", n)
	}
	if name, err := openErr(p, live); err != nil || name != "still here" {
		t.Errorf("Open of a live subject after the flood = %q, %v", name, err)
	}
}

// e2 returns a second Protector on s, watched but idle.
func e2(t *testing.T, kek *kmstest.KEK, s *watchedStore) *pii.Protector {
	p, _ := watched(t, kek, s)
	return p
}

// TestReviewM3WatcherLostDropsKeysAndCapsCaching: when the watcher loses
// its connection, every cached key is dropped at once and keys are cached
// for at most a second until it listens again; Health and
// WithWatcherErrors report it.
func TestReviewM3WatcherLostDropsKeysAndCapsCaching(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	kek, s := kmstest.New("test:1"), newWatchedStore()
	var reported []error
	p, ev := watched(t, kek, s, pii.WithClock(clock.Now), pii.WithWatcherErrors(func(err error) { reported = append(reported, err) }))
	if h := p.Health(); h.Watcher != pii.WatcherStarting {
		t.Errorf("Health before listening = %+v", h)
	}
	ev.Listening()
	c := sealed(t, e2(t, kek, s), "subj", "x")
	decrypts := func() int64 { return kek.Calls(kmstest.OpDecrypt) }
	open := func() {
		t.Helper()
		if _, err := openErr(p, c); err != nil {
			t.Fatal(err)
		}
	}
	open()
	n := decrypts()
	open()
	if decrypts() != n {
		t.Fatal("warm Open reached the KEK")
	}
	lost := errors.New("connection refused")
	ev.Lost(lost)
	if h := p.Health(); h.Watcher != pii.WatcherLost || !errors.Is(h.Err, lost) || !h.Since.Equal(clock.Now()) {
		t.Errorf("Health after Lost = %+v", h)
	}
	if len(reported) != 1 || !errors.Is(reported[0], lost) {
		t.Errorf("WithWatcherErrors got %v", reported)
	}
	open()
	if decrypts() != n+1 {
		t.Errorf("Lost did not drop the cached key (%d unwraps, want %d)", decrypts(), n+1)
	}
	clock.Advance(1500 * time.Millisecond)
	open()
	if decrypts() != n+2 {
		t.Errorf("while lost, a key stayed cached over a second (%d unwraps, want %d)", decrypts(), n+2)
	}
	ev.Listening()
	if h := p.Health(); h.Watcher != pii.WatcherListening || h.Err != nil {
		t.Errorf("Health after Listening = %+v", h)
	}
	open()
	clock.Advance(time.Minute)
	open()
	if decrypts() != n+3 {
		t.Errorf("listening again, keys are not cached for the TTL (%d unwraps, want %d)", decrypts(), n+3)
	}
}

// TestReviewM3FailClosedWithoutWatcher: WithFailClosedWithoutWatcher
// refuses subject keys once the watcher has been down for longer than
// allowed, and needs a store that can announce erasures.
func TestReviewM3FailClosedWithoutWatcher(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	kek, s := kmstest.New("test:1"), newWatchedStore()
	p, ev := watched(t, kek, s, pii.WithClock(clock.Now), pii.WithFailClosedWithoutWatcher(10*time.Second))
	c := sealed(t, p, "subj", "x") // starting, within the grace period
	clock.Advance(11 * time.Second)
	if _, err := openErr(p, c); !errors.Is(err, pii.ErrWatcherDown) {
		t.Errorf("never listening for 11 s: Open = %v, want ErrWatcherDown", err)
	}
	if err := p.OpenAll(ctx, []Customer{c, sealed(t, e2(t, kek, s), "other", "y")}); !errors.Is(err, pii.ErrWatcherDown) {
		t.Errorf("never listening for 11 s: OpenAll = %v, want ErrWatcherDown", err)
	}
	if !p.Health().Refusing {
		t.Error("Health does not say it is refusing")
	}
	ev.Listening()
	if _, err := openErr(p, c); err != nil {
		t.Errorf("listening: Open = %v", err)
	}
	ev.Lost(errors.New("gone"))
	clock.Advance(5 * time.Second)
	if _, err := openErr(p, c); err != nil {
		t.Errorf("lost for 5 s of 10: Open = %v", err)
	}
	clock.Advance(6 * time.Second)
	if _, err := openErr(p, c); !errors.Is(err, pii.ErrWatcherDown) {
		t.Errorf("lost for 11 s: Open = %v, want ErrWatcherDown", err)
	}
	if _, err := pii.New(ctx, kek, memory.New(), pii.WithFailClosedWithoutWatcher(time.Second)); !errors.Is(err, pii.ErrNoWatcher) {
		t.Errorf("fail-closed on a store without a watcher: New = %v, want ErrNoWatcher", err)
	}
}

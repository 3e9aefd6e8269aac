package pii_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fieldcrypt/fieldcrypt/pii"
)

// TestConcurrentSealOpenForget hammers one Protector from many goroutines:
// sealing and opening records of a few shared subjects while others are
// forgotten. Run under -race. Every operation must either succeed with the
// right result or fail with ErrForgotten; nothing else.
func TestConcurrentSealOpenForget(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const (
		workers  = 16
		rounds   = 60
		subjects = 8
	)
	var forgotten [subjects]atomic.Bool
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				s := (w + i) % subjects
				id := fmt.Sprintf("subject-%d", s)
				if w == 0 && i%10 == 9 {
					if _, err := e.p.Forget(ctx, id); err != nil {
						t.Errorf("Forget: %v", err)
					}
					forgotten[s].Store(true)
					continue
				}
				c := sampleCustomer(id)
				want := deepCopy(c)
				err := e.p.Seal(ctx, &c)
				if errors.Is(err, pii.ErrForgotten) {
					continue
				}
				if err != nil {
					t.Errorf("Seal: %v", err)
					return
				}
				err = e.p.Open(ctx, &c)
				if errors.Is(err, pii.ErrForgotten) && forgotten[s].Load() {
					continue
				}
				if err != nil {
					t.Errorf("Open: %v", err)
					return
				}
				if c.Name != want.Name || c.Phones[1].Number != want.Phones[1].Number {
					t.Errorf("round trip under concurrency gave %q", c.Name)
					return
				}
			}
		}()
	}
	// Concurrent batch calls and a second Protector on the same store.
	p2 := e.protector(t)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				batch := []Customer{sampleCustomer(fmt.Sprintf("batch-%d", i)), sampleCustomer(fmt.Sprintf("batch-%d", i+1))}
				if err := p2.SealAll(ctx, batch); err != nil {
					t.Errorf("SealAll: %v", err)
					return
				}
				if err := p2.OpenAll(ctx, batch); err != nil {
					t.Errorf("OpenAll: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for s := range subjects {
		if !forgotten[s].Load() {
			continue
		}
		c := sampleCustomer(fmt.Sprintf("subject-%d", s))
		if err := e.p.Seal(ctx, &c); !errors.Is(err, pii.ErrForgotten) {
			t.Errorf("after the storm, Seal of forgotten subject %d = %v", s, err)
		}
	}
}

// TestConcurrentFirstSealAgreesOnOneKey starts many first Seals of one new
// subject at once, on several Protectors: they must all end up with the
// same key (one creator wins, the others use its key).
func TestConcurrentFirstSealAgreesOnOneKey(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ps := []*pii.Protector{e.p, e.protector(t), e.protector(t)}
	var wg sync.WaitGroup
	sealed := make([]Customer, 24)
	for i := range sealed {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sealed[i] = Customer{ID: "newcomer", Email: "same@example.com"}
			if err := ps[i%len(ps)].Seal(ctx, &sealed[i]); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for i := range sealed {
		if sealed[i].Email != sealed[0].Email {
			t.Fatalf("Seal %d used a different key than Seal 0", i)
		}
	}
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestKeyCacheBounds(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	e := newEnv(t)
	ctx := context.Background()
	p := e.protector(t, pii.WithKeyCache(3, time.Minute), pii.WithClock(clock.Now))
	for i := range 5 {
		c := Customer{ID: fmt.Sprintf("c%d", i), Name: "x"}
		if err := p.Seal(ctx, &c); err != nil {
			t.Fatal(err)
		}
	}
	if n := p.CachedSubjects(); n != 3 {
		t.Errorf("cache holds %d subjects, bound is 3", n)
	}

	// Time-to-forget across processes: another Protector forgets c4; this
	// one keeps its cached key until the TTL passes, then refuses.
	c := Customer{ID: "c4", Name: "x"}
	if _, err := e.p.Forget(ctx, "c4"); err != nil {
		t.Fatal(err)
	}
	if err := p.Seal(ctx, &c); err != nil {
		t.Fatalf("within the TTL the cached key is still used: %v", err)
	}
	clock.Advance(time.Minute + time.Second)
	c = Customer{ID: "c4", Name: "x"}
	if err := p.Seal(ctx, &c); !errors.Is(err, pii.ErrForgotten) {
		t.Errorf("after the TTL, Seal = %v, want ErrForgotten", err)
	}
}

// TestForgetWinsOverInFlightLoad checks that a key load which started
// before Forget cannot put the key back into the cache afterwards.
func TestForgetWinsOverInFlightLoad(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := Customer{ID: "racer", Name: "x"}
	if err := e.p.Seal(ctx, &c); err != nil {
		t.Fatal(err)
	}
	p2 := e.protector(t)
	e.kek.SetLatency(200 * time.Millisecond) // p2's unwrap will be slow
	done := make(chan error)
	go func() {
		x := c
		done <- p2.Open(ctx, &x)
	}()
	time.Sleep(50 * time.Millisecond) // p2 is now inside its unwrap
	if _, err := p2.Forget(ctx, "racer"); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, pii.ErrForgotten) {
		t.Errorf("Open that raced Forget = %v, want ErrForgotten", err)
	}
	e.kek.SetLatency(0)
	x := c
	if err := p2.Open(ctx, &x); !errors.Is(err, pii.ErrForgotten) {
		t.Errorf("Open after Forget = %v, want ErrForgotten (the raced load must not be cached)", err)
	}
}

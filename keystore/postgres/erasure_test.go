package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/fieldcrypt/fieldcrypt/internal/pgtest"
	"github.com/fieldcrypt/fieldcrypt/keystore/postgres"
	"github.com/fieldcrypt/fieldcrypt/kms/kmstest"
	"github.com/fieldcrypt/fieldcrypt/pii"
)

// erasureBound is how quickly, by the promise, an erasure on one
// instance must be refused on every other.
const erasureBound = time.Second

type Person struct {
	ID   string `pii:"subject"`
	Name string `pii:"encrypt"`
}

// instances returns n Protectors that share one KEK and one database, each
// with its own store (its own connections), as separate processes would.
func instances(t *testing.T, n int) []*pii.Protector {
	ps, _ := instancesOn(t, n)
	return ps
}

// instancesOn is instances, also returning the database they share.
func instancesOn(t *testing.T, n int) ([]*pii.Protector, string) {
	t.Helper()
	dsn := pgtest.Schema(t)
	kek := kmstest.New("test:1")
	var ps []*pii.Protector
	for range n {
		s, err := postgres.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		p, err := pii.New(context.Background(), kek, s)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close(); s.Close() })
		ps = append(ps, p)
	}
	return ps, dsn
}

// refusedWithin polls p until it refuses to seal for subject or the bound
// passes, and returns how long that took.
func refusedWithin(t *testing.T, p *pii.Protector, subject string, bound time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		v := Person{ID: subject, Name: "x"}
		err := p.Seal(context.Background(), &v)
		if errors.Is(err, pii.ErrForgotten) {
			return time.Since(start)
		}
		if err != nil {
			t.Fatalf("Seal while waiting for the erasure: %v", err)
		}
		if time.Since(start) > bound {
			t.Fatalf("instance still seals for an erased subject after %v", bound)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestForgetReachesOtherInstances(t *testing.T) {
	ps := instances(t, 2)
	a, b := ps[0], ps[1]
	ctx := context.Background()
	for i := range 5 {
		subject := fmt.Sprintf("person-%d", i)
		sealed := Person{ID: subject, Name: "Ada"}
		if err := b.Seal(ctx, &sealed); err != nil { // b now has the key cached
			t.Fatal(err)
		}
		if _, err := a.Forget(ctx, subject); err != nil {
			t.Fatal(err)
		}
		took := refusedWithin(t, b, subject, erasureBound)
		if err := b.Open(ctx, &sealed); !errors.Is(err, pii.ErrForgotten) {
			t.Errorf("Open on the other instance = %v, want ErrForgotten", err)
		}
		t.Logf("refused on the other instance after %v", took)
	}
}

func TestForgetReachesInstanceAfterListenerCut(t *testing.T) {
	ps := instances(t, 2)
	a, b := ps[0], ps[1]
	ctx := context.Background()
	sealed := Person{ID: "cut", Name: "Ada"}
	if err := b.Seal(ctx, &sealed); err != nil {
		t.Fatal(err)
	}
	waitForListeners(t, 2)
	// Cut every listening connection (a's and b's), then erase at once:
	// the notification is sent while nobody listens.
	pgtest.Exec(t, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, postgres.WatcherApplicationName)
	if _, err := a.Forget(ctx, "cut"); err != nil {
		t.Fatal(err)
	}
	took := refusedWithin(t, b, "cut", erasureBound)
	t.Logf("refused after the listener was cut and restored, after %v", took)
	waitForListeners(t, 2) // both listeners came back
}

func waitForListeners(t *testing.T, want int) {
	t.Helper()
	ctx := context.Background()
	s, err := postgres.Open(ctx, pgtest.Server(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, err := s.CountConnections(ctx, postgres.WatcherApplicationName)
		if err != nil {
			t.Fatal(err)
		}
		if n >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d listeners connected, want %d", n, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestForgetRacesFirstSeal runs Forget concurrently with first-time Seals
// of the same subjects on several instances. Whatever the interleaving:
// once Forget has returned, the store holds no key for the subject (the
// tombstone wins over a concurrent creation), nothing sealed for the
// subject at any time can be opened anywhere, and every instance refuses
// to seal within the bound.
func TestForgetRacesFirstSeal(t *testing.T) {
	ps, dsn := instancesOn(t, 4)
	eraser, sealers := ps[0], ps[1:]
	ctx := context.Background()
	const subjects = 20
	for i := range subjects {
		subject := fmt.Sprintf("race-%d", i)
		var mu sync.Mutex
		var produced []Person
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for _, p := range sealers {
			for range 3 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						select {
						case <-stop:
							return
						default:
						}
						v := Person{ID: subject, Name: "Ada"}
						err := p.Seal(ctx, &v)
						if err == nil {
							mu.Lock()
							produced = append(produced, v)
							mu.Unlock()
						} else if !errors.Is(err, pii.ErrForgotten) {
							t.Errorf("Seal: %v", err)
							return
						}
					}
				}()
			}
		}
		time.Sleep(time.Duration(i%5) * time.Millisecond) // erase at different points of the race
		if _, err := eraser.Forget(ctx, subject); err != nil {
			t.Fatal(err)
		}
		for _, p := range sealers {
			refusedWithin(t, p, subject, erasureBound)
		}
		close(stop)
		wg.Wait()
		for _, p := range ps {
			for _, v := range produced {
				if err := p.Open(ctx, &v); !errors.Is(err, pii.ErrForgotten) {
					t.Fatalf("a value sealed during the race opens after Forget: %v", err)
				}
			}
		}
	}
	// The store itself: after all those erasures no subject key is left,
	// only the global keys' record; every raced creation lost to its
	// tombstone.
	s, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	recs, err := s.Scan(ctx, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].ID != "fieldcrypt.global" {
		ids := []string{}
		for _, r := range recs {
			ids = append(ids, r.ID)
		}
		t.Errorf("key records left after erasing every subject: %v", ids)
	}
}

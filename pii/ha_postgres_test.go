package pii_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fieldcrypt/fieldcrypt/internal/pgcluster"
	"github.com/fieldcrypt/fieldcrypt/keystore/postgres"
	"github.com/fieldcrypt/fieldcrypt/kms"
	"github.com/fieldcrypt/fieldcrypt/kms/local"
	"github.com/fieldcrypt/fieldcrypt/pii"
)

// countingKEK batches a local KEK (so that SealAll takes the batched path,
// as with Vault), counts the keys it unwraps, and starts onWrap in the
// background when the n-th batch wrap begins.
type countingKEK struct {
	kms.KEK
	unwrapped atomic.Int64
	wraps     atomic.Int64
	n         int64
	once      sync.Once
	onWrap    func()
}

func (k *countingKEK) EncryptBatch(ctx context.Context, reqs []kms.Request) ([]kms.Result, error) {
	if k.wraps.Add(1) == k.n && k.onWrap != nil {
		k.once.Do(func() { go k.onWrap() })
	}
	out := make([]kms.Result, len(reqs))
	for i, r := range reqs {
		out[i].Data, out[i].Err = k.KEK.Encrypt(ctx, r.Data, r.AssociatedData)
	}
	return out, nil
}

func (k *countingKEK) DecryptBatch(ctx context.Context, reqs []kms.Request) ([]kms.Result, error) {
	out := make([]kms.Result, len(reqs))
	for i, r := range reqs {
		out[i].Data, out[i].Err = k.Decrypt(ctx, r.Data, r.AssociatedData)
	}
	return out, nil
}

func (k *countingKEK) Decrypt(ctx context.Context, ciphertext, associatedData []byte) ([]byte, error) {
	k.unwrapped.Add(1)
	return k.KEK.Decrypt(ctx, ciphertext, associatedData)
}

type haRecord struct {
	ID   string `pii:"subject"`
	Name string `pii:"encrypt"`
}

// waitListening waits until p's erasure watcher listens, on a connection
// made after since.
func waitListening(t *testing.T, p *pii.Protector, since time.Time) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if h := p.Health(); h.Watcher == pii.WatcherListening && h.Since.After(since) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the erasure watcher did not listen again within 30 s: %+v", p.Health())
}

// TestHAPostgresRestartMidSealAll: a SealAll of 10,000 new subjects, in
// caller batches of 1,000, against keystore/postgres on a server of the
// test's own, restarted ("fast": every connection terminated) in the
// middle. Every error the caller sees is retryable and leaves its batch
// as it was; the retry completes and every record opens. Then: a restart
// drops the Protector's cached keys (an Open after it unwraps again,
// though the cache TTL is an hour), and a Forget made through another
// Protector after the restart reaches this one through its reconnected
// watcher (its Open fails with ErrForgotten although the key was cached
// for an hour): no stale key is used.
func TestHAPostgresRestartMidSealAll(t *testing.T) {
	srv := pgcluster.Start(t)
	ctx := context.Background()
	open := func() *postgres.Store {
		s, err := postgres.Open(ctx, srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		return s
	}
	base, err := local.Generate()
	if err != nil {
		t.Fatal(err)
	}
	const subjects, batch = 10000, 1000
	var restarted time.Time
	var down time.Duration
	restartDone := make(chan error, 1)
	kek := &countingKEK{KEK: base, n: int64(2*batch/pii.DefaultBatchSize + 1), onWrap: func() {
		restarted = time.Now()
		var err error
		down, err = srv.Restart("fast")
		restartDone <- err
	}}
	p, err := pii.New(ctx, kek, open(), pii.WithKeyCache(2*subjects, time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	waitListening(t, p, time.Time{})

	want := make([]haRecord, subjects)
	for i := range want {
		want[i] = haRecord{ID: fmt.Sprintf("pg-%05d", i), Name: fmt.Sprintf("Name %d", i)}
	}
	sealed := make([]haRecord, subjects)
	copy(sealed, want)
	var failures int
	var recovered time.Time
	kinds := map[string]int{}
	began := time.Now()
	for start := 0; start < subjects; start += batch {
		part := sealed[start : start+batch]
		for {
			err := p.SealAll(ctx, part)
			if err == nil {
				if failures > 0 && recovered.IsZero() {
					recovered = time.Now()
				}
				break
			}
			failures++
			if !errors.Is(err, kms.ErrUnavailable) || !kms.Retryable(err) {
				t.Fatalf("SealAll of batch %d: %v, want only retryable errors", start/batch, err)
			}
			for i := range part {
				if part[i] != want[start+i] {
					t.Fatalf("failed SealAll changed record %d (half-sealed batch)", start+i)
				}
			}
			if kinds[err.Error()]++; kinds[err.Error()] == 1 && len(kinds) <= 3 {
				t.Logf("error seen: %v", err)
			}
			if time.Since(began) > 45*time.Second {
				t.Fatalf("not recovered within 45 s: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if err := <-restartDone; err != nil {
		t.Fatal(err)
	}
	t.Logf("SealAll of %d new subjects in %v; restart at +%v, server down %v; %d failed SealAll calls, all retryable; first success after the restart began %v later",
		subjects, time.Since(began).Round(time.Millisecond), restarted.Sub(began).Round(time.Millisecond), down.Round(time.Millisecond),
		failures, since(restarted, recovered))
	if failures == 0 {
		t.Error("no SealAll failed: the restart did not land mid-run")
	}
	waitListening(t, p, restarted)
	for start := 0; start < subjects; start += batch {
		part := make([]haRecord, batch)
		copy(part, sealed[start:start+batch])
		if err := p.OpenAll(ctx, part); err != nil {
			t.Fatalf("OpenAll of batch %d: %v", start/batch, err)
		}
		for i := range part {
			if part[i] != want[start+i] {
				t.Fatalf("record %d opened to something else", start+i)
			}
		}
	}

	// A restart drops the cached keys: x is cached (a second Open unwraps
	// nothing), and after a restart the next Open unwraps again.
	// openOne retries what is retryable, as an application would: the
	// first use of a pooled connection that the restart cut fails once.
	openOne := func(p *pii.Protector, i int) error {
		for attempt := 0; ; attempt++ {
			v := sealed[i]
			err := p.Open(ctx, &v)
			if !kms.Retryable(err) || attempt == 100 {
				return err
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if err := openOne(p, 1); err != nil {
		t.Fatal(err)
	}
	before := kek.unwrapped.Load()
	if err := openOne(p, 1); err != nil {
		t.Fatal(err)
	}
	if n := kek.unwrapped.Load() - before; n != 0 {
		t.Fatalf("a cached key was unwrapped %d times", n)
	}
	second := time.Now()
	if _, err := srv.Restart("fast"); err != nil {
		t.Fatal(err)
	}
	waitListening(t, p, second)
	if err := openOne(p, 1); err != nil {
		t.Fatalf("Open after the second restart: %v", err)
	}
	if n := kek.unwrapped.Load() - before; n != 1 {
		t.Fatalf("Open after a restart unwrapped %d keys, want 1: the cache was not dropped", n)
	}

	// A Forget through another Protector (its own store, same database),
	// after the restart, reaches p through its reconnected watcher.
	other, err := pii.New(ctx, base, open())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := openOne(p, 2); err != nil { // cached in p for an hour
		t.Fatal(err)
	}
	if _, err := other.Forget(ctx, want[2].ID); err != nil {
		t.Fatal(err)
	}
	forgot := time.Now()
	for {
		err := openOne(p, 2)
		if errors.Is(err, pii.ErrForgotten) {
			break
		}
		if err != nil {
			t.Fatalf("Open of a forgotten subject: %v, want ErrForgotten", err)
		}
		if time.Since(forgot) > 30*time.Second {
			t.Fatal("the Forget made elsewhere did not reach this Protector within 30 s (its key is cached for an hour): the watcher did not reconnect")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("a Forget made elsewhere after the restart took effect here after %v", time.Since(forgot).Round(time.Millisecond))
}

func since(from, to time.Time) time.Duration {
	if to.IsZero() || from.IsZero() {
		return 0
	}
	return to.Sub(from).Round(time.Millisecond)
}

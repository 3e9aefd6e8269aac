package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/fieldcrypt/fieldcrypt/internal/pgcluster"
	"github.com/fieldcrypt/fieldcrypt/keystore"
	"github.com/fieldcrypt/fieldcrypt/keystore/postgres"
	"github.com/fieldcrypt/fieldcrypt/kms"
)

// TestRestartMidRun restarts a server of the test's own (pgcluster) in the
// middle of a run of Creates, cleanly ("fast": every connection is
// terminated with SQLSTATE 57P01) and as a crash ("immediate": recovery at
// start-up). Every error the caller sees is retryable (it matches
// kms.ErrUnavailable, and kms.Retryable reports true), a retry completes
// (the pool connects again), every record reads back, and the erasure
// listener reports the lost connection, listens again, and then hears an
// erasure made through another Store.
func TestRestartMidRun(t *testing.T) {
	srv := pgcluster.Start(t)
	ctx := context.Background()
	s, err := postgres.Open(ctx, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	other, err := postgres.Open(ctx, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	events := watch(t, s)
	if e := next(t, events); e != "listening" {
		t.Fatalf("first event %q, want listening", e)
	}
	for _, mode := range []string{"fast", "immediate"} {
		const records, restartAt = 1500, 300
		done := make(chan error, 1)
		var down time.Duration
		var failures int
		for i := range records {
			if i == restartAt {
				go func() {
					var err error
					down, err = srv.Restart(mode)
					done <- err
				}()
			}
			rec := keystore.Record{ID: fmt.Sprintf("%s-%05d", mode, i), KEKID: "kek", Wrapped: []byte("wrapped"), KeyIDs: []uint32{1}}
			for attempt := 0; ; attempt++ {
				_, _, err := s.Create(ctx, rec)
				if err == nil {
					break
				}
				failures++
				if !errors.Is(err, kms.ErrUnavailable) || !kms.Retryable(err) {
					t.Fatalf("%s restart: Create %d: %v, want a retryable error", mode, i, err)
				}
				if attempt > 200 {
					t.Fatalf("%s restart: Create %d still failing: %v", mode, i, err)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if failures == 0 {
			t.Errorf("%s restart: no Create failed: the restart did not land mid-run", mode)
		}
		t.Logf("%s restart: server down %v; %d failed Creates, all retryable", mode, down.Round(time.Millisecond), failures)
		for i := range records {
			if _, err := s.Get(ctx, fmt.Sprintf("%s-%05d", mode, i)); err != nil {
				t.Fatalf("%s restart: Get %d: %v", mode, i, err)
			}
		}
		got := until(t, events, "listening")
		if !slices.Contains(got, "lost") {
			t.Fatalf("%s restart: watcher events %v, want a lost connection before listening again", mode, got)
		}
		id := fmt.Sprintf("%s-%05d", mode, 7)
		// other's pool may hand out a connection the restart killed: the
		// first use fails, retryably, and a retry goes through (the
		// documented contract).
		for attempt := 1; ; attempt++ {
			_, err := other.Delete(ctx, keystore.Tombstone{ID: id, Reason: "test"})
			if err == nil {
				break
			}
			if !kms.Retryable(err) || attempt == 5 {
				t.Fatalf("%s restart: Delete (attempt %d): %v", mode, attempt, err)
			}
		}
		if got := until(t, events, "erased "+id); len(got) != 1 {
			t.Errorf("%s restart: events before the erasure: %v", mode, got[:len(got)-1])
		}
	}
}

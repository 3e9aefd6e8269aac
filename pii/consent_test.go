package pii

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fieldcrypt/fieldcrypt/internal/pgtest"
	"github.com/fieldcrypt/fieldcrypt/keystore"
	"github.com/fieldcrypt/fieldcrypt/keystore/memory"
	"github.com/fieldcrypt/fieldcrypt/keystore/postgres"
	"github.com/fieldcrypt/fieldcrypt/kms/kmstest"
)

// TestConsentGrantWithdrawHistory: grants and withdrawals, the current
// purposes, the history (keyed by record ID, no identifier), and refusals.
func TestConsentGrantWithdrawHistory(t *testing.T) {
	eachRightsStore(t, func(t *testing.T, store keystore.Store) {
		ctx := context.Background()
		p := mustNew(t, kmstest.New("test:1"), store)
		const subject = "ada@example.com"
		for _, purpose := range []string{"marketing", "analytics"} {
			if err := p.GrantConsent(ctx, subject, ConsentChange{Purpose: purpose, Actor: "signup-form"}); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.WithdrawConsent(ctx, subject, ConsentChange{Purpose: "marketing", Actor: "support"}); err != nil {
			t.Fatal(err)
		}
		if got, err := p.Consent(ctx, subject); err != nil || strings.Join(got, ",") != "analytics" {
			t.Errorf("Consent = %v, %v; want analytics", got, err)
		}
		h, err := p.ConsentHistory(ctx, subject)
		if err != nil || len(h) != 3 {
			t.Fatalf("ConsentHistory = %+v, %v", h, err)
		}
		want := []string{"grant marketing signup-form", "grant analytics signup-form", "withdraw marketing support"}
		for i, e := range h {
			if got := e.Action + " " + e.Purpose + " " + e.Actor; got != want[i] || strings.Contains(e.ID, "@") || e.At.IsZero() {
				t.Errorf("history %d = %+v, want %s", i, e, want[i])
			}
		}
		if got, err := p.Consent(ctx, "nobody@example.com"); err != nil || len(got) != 0 {
			t.Errorf("Consent(unknown) = %v, %v", got, err)
		}
		for _, c := range []ConsentChange{{Purpose: "Marketing", Actor: "web"}, {Purpose: "", Actor: "web"}, {Purpose: "billing", Actor: ""}} {
			if err := p.GrantConsent(ctx, subject, c); !errors.Is(err, ErrInvalidArgument) {
				t.Errorf("GrantConsent(%+v) = %v, want ErrInvalidArgument", c, err)
			}
		}
		if _, err := p.Forget(ctx, subject); err != nil {
			t.Fatal(err)
		}
		if err := p.GrantConsent(ctx, subject, ConsentChange{Purpose: "billing", Actor: "web"}); !errors.Is(err, ErrForgotten) {
			t.Errorf("GrantConsent(forgotten) = %v, want ErrForgotten", err)
		}
		if err := p.WithdrawConsent(ctx, subject, ConsentChange{Purpose: "analytics", Actor: "web"}); !errors.Is(err, ErrForgotten) {
			t.Errorf("WithdrawConsent(forgotten) = %v, want ErrForgotten", err)
		}
		if h2, _ := p.ConsentHistory(ctx, subject); len(h2) != 3 {
			t.Errorf("refused changes were recorded: %+v", h2)
		}
	})
}

// TestConsentViewCachesAndInvalidates: the cached lookup for Open-time
// enforcement answers from the cache until invalidated, and a lookup in
// flight during an invalidation does not cache its answer.
func TestConsentViewCachesAndInvalidates(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	p := mustNew(t, kmstest.New("test:1"), store)
	clock := time.Now()
	v := newConsentView(store, time.Minute, 10, func() time.Time { return clock })
	if err := p.GrantConsent(ctx, "ada", ConsentChange{Purpose: "marketing", Actor: "web"}); err != nil {
		t.Fatal(err)
	}
	ids, _ := p.ring.addresses("ada")
	if ok, err := v.granted(ctx, ids, "marketing"); err != nil || !ok {
		t.Fatalf("granted = %v, %v", ok, err)
	}
	if err := p.WithdrawConsent(ctx, "ada", ConsentChange{Purpose: "marketing", Actor: "web"}); err != nil {
		t.Fatal(err)
	}
	// Not announced (memory): the cached answer stands until its TTL...
	if ok, _ := v.granted(ctx, ids, "marketing"); !ok {
		t.Fatal("the cache was not used")
	}
	clock = clock.Add(time.Minute)
	if ok, _ := v.granted(ctx, ids, "marketing"); ok {
		t.Fatal("an expired entry was used")
	}
	// ...or an invalidation.
	if err := p.GrantConsent(ctx, "ada", ConsentChange{Purpose: "marketing", Actor: "web"}); err != nil {
		t.Fatal(err)
	}
	v.invalidate(ids[0])
	if ok, _ := v.granted(ctx, ids, "marketing"); !ok {
		t.Fatal("an invalidated entry was used")
	}
	v.dropAll()
	if len(v.entries) != 0 || len(v.keyOf) != 0 {
		t.Errorf("dropAll left %d entries", len(v.entries))
	}
}

// TestConsentWithdrawalAcrossInstancesPostgres: two Protectors (two
// instances) on one PostgreSQL store. A withdrawal through one is seen by
// the other's Consent at once (it reads the store), and the other's cached
// view is invalidated by the store's announcement, pushed at commit: no
// polling, no TTL.
func TestConsentWithdrawalAcrossInstancesPostgres(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Schema(t)
	open := func() *postgres.Store {
		s, err := postgres.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		return s
	}
	sa, sb := open(), open()
	kek := kmstest.New("test:1")
	a := mustNew(t, kek, sa)
	b := mustNew(t, kek, sb)
	const subject = "ada@example.com"
	if err := a.GrantConsent(ctx, subject, ConsentChange{Purpose: "marketing", Actor: "web"}); err != nil {
		t.Fatal(err)
	}
	// Instance a's cached view, wired to its store's watcher as the
	// Open-time enforcement will be.
	view := newConsentView(sa, time.Hour, 100, time.Now)
	invalidated := make(chan string, 10)
	listening := make(chan struct{}, 10)
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sa.WatchErasures(wctx, keystore.ErasureEvents{
			ConsentChanged: func(id string) { view.invalidate(id); invalidated <- id },
			Listening:      func() { view.dropAll(); listening <- struct{}{} },
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-listening:
	case <-time.After(30 * time.Second):
		t.Fatal("the watcher never listened")
	}
	ids, _ := a.ring.addresses(subject)
	if ok, err := view.granted(ctx, ids, "marketing"); err != nil || !ok {
		t.Fatalf("view before the withdrawal = %v, %v", ok, err)
	}
	start := time.Now()
	if err := b.WithdrawConsent(ctx, subject, ConsentChange{Purpose: "marketing", Actor: "support"}); err != nil {
		t.Fatal(err)
	}
	if got, err := a.Consent(ctx, subject); err != nil || len(got) != 0 {
		t.Errorf("instance a's Consent after b's withdrawal = %v, %v", got, err)
	}
	select {
	case id := <-invalidated:
		if id != ids[0] {
			t.Errorf("announced %s, want %s", id, ids[0])
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the withdrawal was never announced")
	}
	t.Logf("withdrawal reached the other instance's view after %v", time.Since(start))
	if ok, err := view.granted(ctx, ids, "marketing"); err != nil || ok {
		t.Errorf("view after the announced withdrawal = %v, %v; want not granted", ok, err)
	}
}

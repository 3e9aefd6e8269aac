package pii

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fieldcrypt/fieldcrypt/keystore"
	"github.com/fieldcrypt/fieldcrypt/keystore/memory"
	"github.com/fieldcrypt/fieldcrypt/kms/kmstest"
)

// rightsStores are the stores the rights tests run on: memory, SQLite and
// (under testenv) PostgreSQL.
func eachRightsStore(t *testing.T, fn func(t *testing.T, store keystore.Store)) {
	for name, newStore := range readdressStores(t) {
		t.Run(name, func(t *testing.T) { fn(t, newStore(t)) })
	}
}

func wantLegalHold(t *testing.T, err error, ref string) {
	t.Helper()
	var lh *LegalHoldError
	if !errors.Is(err, ErrLegalHold) || !errors.As(err, &lh) || lh.Reference != ref {
		t.Fatalf("err = %v, want a *LegalHoldError with reference %q", err, ref)
	}
}

// TestHoldRefusesForget: a held subject's Forget fails with a
// *LegalHoldError and erases nothing; after the release it erases.
func TestHoldRefusesForget(t *testing.T) {
	eachRightsStore(t, func(t *testing.T, store keystore.Store) {
		ctx := context.Background()
		p := mustNew(t, kmstest.New("test:1"), store)
		const subject = "ada@example.com"
		c := addrCustomer{ID: subject, Name: "Ada"}
		if err := p.Seal(ctx, &c); err != nil {
			t.Fatal(err)
		}
		if placed, err := p.PlaceHold(ctx, subject, HoldInfo{Reference: "CASE-7", By: "legal"}); err != nil || !placed {
			t.Fatalf("PlaceHold = %v, %v", placed, err)
		}
		if placed, err := p.PlaceHold(ctx, subject, HoldInfo{Reference: "CASE-7", By: "legal"}); err != nil || placed {
			t.Errorf("PlaceHold again = %v, %v; want not placed, no error", placed, err)
		}
		_, err := p.Forget(ctx, subject)
		wantLegalHold(t, err, "CASE-7")
		if strings.Contains(err.Error(), subject) {
			t.Errorf("the error names the subject: %v", err)
		}
		opened := c
		if err := p.Open(ctx, &opened); err != nil || opened.Name != "Ada" {
			t.Fatalf("Open after a refused Forget = %q, %v", opened.Name, err)
		}
		if st, err := p.ErasureStatus(ctx, subject); err != nil || st.Erased || len(st.Receipts) != 0 {
			t.Fatalf("ErasureStatus after a refused Forget = %+v, %v", st, err)
		}
		// A fresh Seal works too: no negative entry was left behind.
		again := addrCustomer{ID: subject, Name: "Ada again"}
		if err := p.Seal(ctx, &again); err != nil {
			t.Fatalf("Seal after a refused Forget = %v", err)
		}
		if err := p.ReleaseHold(ctx, subject, HoldInfo{Reference: "CASE-9", By: "legal"}); !errors.Is(err, ErrNoHold) {
			t.Errorf("ReleaseHold(unknown reference) = %v, want ErrNoHold", err)
		}
		if err := p.ReleaseHold(ctx, subject, HoldInfo{Reference: "CASE-7", By: "legal"}); err != nil {
			t.Fatal(err)
		}
		r, err := p.Forget(ctx, subject)
		if err != nil || r.Seq == 0 || len(r.KeyIDs) == 0 {
			t.Fatalf("Forget after the release = %+v, %v", r, err)
		}
		if err := p.Open(ctx, &c); !errors.Is(err, ErrForgotten) {
			t.Errorf("Open after Forget = %v, want ErrForgotten", err)
		}
		if _, err := p.PlaceHold(ctx, subject, HoldInfo{Reference: "CASE-8", By: "legal"}); !errors.Is(err, ErrForgotten) {
			t.Errorf("PlaceHold on a forgotten subject = %v, want ErrForgotten", err)
		}
		h, err := p.HoldHistory(ctx, subject)
		if err != nil || len(h) != 2 || h[0].Action != keystore.HoldPlaced || h[1].Action != keystore.HoldReleased {
			t.Errorf("HoldHistory = %+v, %v", h, err)
		}
		for _, e := range h {
			if _, ok := Generation(e.ID); !ok {
				t.Errorf("history entry not keyed by a record ID: %+v", e)
			}
		}
	})
}

// TestHoldBadInput: malformed references and actors are refused and
// change nothing; a hold may precede the subject's data.
func TestHoldBadInput(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	p := mustNew(t, kmstest.New("test:1"), store)
	for _, h := range []HoldInfo{{Reference: "", By: "legal"}, {Reference: "CASE\n1", By: "legal"}, {Reference: "CASE-1"}} {
		if _, err := p.PlaceHold(ctx, "bob", h); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("PlaceHold(%+v) = %v, want ErrInvalidArgument", h, err)
		}
	}
	if _, err := p.PlaceHold(ctx, "", HoldInfo{Reference: "R", By: "B"}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("PlaceHold(empty subject) = %v", err)
	}
	if ids, _ := store.HeldIDs(ctx, "", 10); len(ids) != 0 {
		t.Fatalf("bad input left holds: %v", ids)
	}
	// Before any data.
	if _, err := p.PlaceHold(ctx, "bob", HoldInfo{Reference: "CASE-1", By: "legal"}); err != nil {
		t.Fatal(err)
	}
	c := addrCustomer{ID: "bob", Name: "Bob"}
	if err := p.Seal(ctx, &c); err != nil {
		t.Fatalf("Seal under a hold placed before the data = %v", err)
	}
	_, err := p.Forget(ctx, "bob")
	wantLegalHold(t, err, "CASE-1")
	if hs, err := p.Holds(ctx, "bob"); err != nil || len(hs) != 1 || hs[0].Reference != "CASE-1" {
		t.Errorf("Holds = %+v, %v", hs, err)
	}
}

// TestSweepSkipsHeld: retention expiry erases the expired subjects that
// are not held, reports the held one, and is not an error.
func TestSweepSkipsHeld(t *testing.T) {
	eachRightsStore(t, func(t *testing.T, store keystore.Store) {
		ctx := context.Background()
		p := mustNew(t, kmstest.New("test:1"), store)
		a, b := addrCustomer{ID: "a@example.com", Name: "A"}, addrCustomer{ID: "b@example.com", Name: "B"}
		for _, c := range []*addrCustomer{&a, &b} {
			if err := p.Seal(ctx, c); err != nil {
				t.Fatal(err)
			}
			if err := p.SetRetention(ctx, c.ID, time.Now().Add(-time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := p.PlaceHold(ctx, b.ID, HoldInfo{Reference: "CASE-2", By: "legal"}); err != nil {
			t.Fatal(err)
		}
		rep, err := p.Sweep(ctx, time.Now(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Receipts) != 1 || rep.Receipts[0].Seq == 0 || len(rep.Held) != 1 || rep.Held[0].Reference != "CASE-2" {
			t.Fatalf("Sweep = %+v", rep)
		}
		if err := p.Open(ctx, &a); !errors.Is(err, ErrForgotten) {
			t.Errorf("Open(expired) = %v, want ErrForgotten", err)
		}
		opened := b
		if err := p.Open(ctx, &opened); err != nil || opened.Name != "B" {
			t.Errorf("Open(held) = %q, %v", opened.Name, err)
		}
		// Expire (receipts only) skips it the same way, without error.
		if rs, err := p.Expire(ctx, time.Now(), nil); err != nil || len(rs) != 0 {
			t.Errorf("Expire = %+v, %v", rs, err)
		}
		if err := p.ReleaseHold(ctx, b.ID, HoldInfo{Reference: "CASE-2", By: "legal"}); err != nil {
			t.Fatal(err)
		}
		if rs, err := ExpireStore(ctx, store, time.Now(), 10, nil); err != nil || len(rs) != 1 {
			t.Errorf("ExpireStore after the release = %+v, %v", rs, err)
		}
	})
}

// hiddenStore is a keystore.Store and nothing more (a Store written
// elsewhere, without the rights interfaces).
type hiddenStore struct{ keystore.Store }

// TestRightsUnsupportedStore: on a store without the rights interfaces,
// the rights calls fail with *UnsupportedStoreError; Forget still works.
func TestRightsUnsupportedStore(t *testing.T) {
	ctx := context.Background()
	p := mustNew(t, kmstest.New("test:1"), hiddenStore{memory.New()})
	var u *UnsupportedStoreError
	_, err := p.PlaceHold(ctx, "a", HoldInfo{Reference: "R", By: "B"})
	if !errors.Is(err, ErrUnsupportedStore) || !errors.As(err, &u) || u.Need != "keystore.Holder" {
		t.Errorf("PlaceHold = %v", err)
	}
	if _, _, err := p.RequestErasure(ctx, "a", Request{Ticket: "T", By: "B"}); !errors.Is(err, ErrUnsupportedStore) {
		t.Errorf("RequestErasure = %v", err)
	}
	if err := p.GrantConsent(ctx, "a", ConsentChange{Purpose: "marketing", Actor: "web"}); !errors.Is(err, ErrUnsupportedStore) {
		t.Errorf("GrantConsent = %v", err)
	}
	if _, err := p.Forget(ctx, "a"); err != nil {
		t.Errorf("Forget = %v", err)
	}
}

// TestReaddressMovesHoldsAndConsent: after a rotation of the addressing
// key, holds and consent recorded under the old address keep working
// (before, during and after the re-addressing), including those of a
// subject with no keys, and the re-addressing leaves none behind.
func TestReaddressMovesHoldsAndConsent(t *testing.T) {
	eachRightsStore(t, func(t *testing.T, store keystore.Store) {
		ctx := context.Background()
		p := mustNew(t, kmstest.New("test:1"), store)
		withKeys, holdOnly, consentOnly := "keys@example.com", "hold@example.com", "consent@example.com"
		c := addrCustomer{ID: withKeys, Name: "K"}
		if err := p.Seal(ctx, &c); err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{withKeys, holdOnly} {
			if _, err := p.PlaceHold(ctx, s, HoldInfo{Reference: "CASE-1", By: "legal"}); err != nil {
				t.Fatal(err)
			}
		}
		for _, s := range []string{withKeys, consentOnly} {
			if err := p.GrantConsent(ctx, s, ConsentChange{Purpose: "marketing", Actor: "web"}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := p.RotateAddressingKey(ctx); err != nil {
			t.Fatal(err)
		}
		check := func(stage string) {
			t.Helper()
			for _, s := range []string{withKeys, holdOnly} {
				_, err := p.Forget(ctx, s)
				var lh *LegalHoldError
				if !errors.As(err, &lh) {
					t.Fatalf("%s: Forget(%s) = %v, want a *LegalHoldError", stage, s, err)
				}
			}
			for _, s := range []string{withKeys, consentOnly} {
				if got, err := p.Consent(ctx, s); err != nil || strings.Join(got, ",") != "marketing" {
					t.Fatalf("%s: Consent(%s) = %v, %v", stage, s, got, err)
				}
			}
		}
		check("after the rotation")
		// A withdrawal now is written at the new address, and wins.
		if err := p.WithdrawConsent(ctx, consentOnly, ConsentChange{Purpose: "marketing", Actor: "web"}); err != nil {
			t.Fatal(err)
		}
		if got, _ := p.Consent(ctx, consentOnly); len(got) != 0 {
			t.Fatalf("Consent after a withdrawal at the new address = %v", got)
		}
		if err := p.GrantConsent(ctx, consentOnly, ConsentChange{Purpose: "marketing", Actor: "web"}); err != nil {
			t.Fatal(err)
		}
		a := p.ring.addr.Load()
		// ReaddressAll moves them too (they used to be stranded: found by
		// no scan of records or tombstones, and lost at retirement).
		rep, err := p.ReaddressAll(ctx, ReaddressOptions{BatchSize: 1})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Rights != 2 || rep.Remaining != 0 {
			t.Fatalf("ReaddressAll = %+v; want the two subjects without keys moved and nothing remaining", rep)
		}
		if n, err := p.remainingRights(ctx, a, 10); err != nil || n != 0 {
			t.Fatalf("rights left after ReaddressAll = %d, %v", n, err)
		}
		if _, err := p.RetireAddressingKeys(ctx); err != nil {
			t.Fatal(err)
		}
		check("after the re-addressing")
		opened := c
		if err := p.Open(ctx, &opened); err != nil || opened.Name != "K" {
			t.Fatalf("Open of the held subject = %q, %v", opened.Name, err)
		}
		// Histories keep their old address and are still found.
		if h, err := p.ConsentHistory(ctx, consentOnly); err != nil || len(h) != 3 {
			t.Errorf("ConsentHistory across addresses = %+v, %v", h, err)
		}
		if h, err := p.HoldHistory(ctx, holdOnly); err != nil || len(h) != 1 {
			t.Errorf("HoldHistory across addresses = %+v, %v", h, err)
		}
	})
}

package pii

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fieldcrypt/fieldcrypt/keystore"
	"github.com/fieldcrypt/fieldcrypt/kms/kmstest"
)

// TestRequestErasure: a request is recorded, carried out and linked to its
// receipt; a held subject's request is recorded as refused and erases
// nothing, and completes under the same request after the release.
func TestRequestErasure(t *testing.T) {
	eachRightsStore(t, func(t *testing.T, store keystore.Store) {
		ctx := context.Background()
		p := mustNew(t, kmstest.New("test:1"), store)
		ada, bob := addrCustomer{ID: "ada@example.com", Name: "Ada"}, addrCustomer{ID: "bob@example.com", Name: "Bob"}
		for _, c := range []*addrCustomer{&ada, &bob} {
			if err := p.Seal(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		received := time.Now().Add(-2 * time.Hour).UTC().Truncate(time.Microsecond)
		req, receipt, err := p.RequestErasure(ctx, ada.ID, Request{Ticket: "DSR-1", By: "dpo", Received: received})
		if err != nil {
			t.Fatal(err)
		}
		if req.Status != RequestCompleted || req.ReceiptSeq == 0 || req.ReceiptSeq != receipt.Seq || !req.Received.Equal(received) ||
			!req.Deadline.Equal(received.Add(DefaultErasureDeadline)) || req.Ticket != "DSR-1" || req.By != "dpo" || req.Completed.IsZero() {
			t.Fatalf("RequestErasure = %+v, receipt %+v", req, receipt)
		}
		rs, _ := store.Receipts(ctx, keystore.ReceiptQuery{After: receipt.Seq - 1, Limit: 1})
		if len(rs) != 1 || rs[0].Seq != req.ReceiptSeq || rs[0].ID != req.Subject {
			t.Errorf("the request names receipt %d, the store has %+v", req.ReceiptSeq, rs)
		}
		if err := p.Open(ctx, &ada); !errors.Is(err, ErrForgotten) {
			t.Errorf("Open after the request = %v", err)
		}
		// Asked again with the same ticket: the completed request as it is.
		again, _, err := p.RequestErasure(ctx, ada.ID, Request{Ticket: "DSR-1", By: "dpo"})
		if err != nil || again.Seq != req.Seq || again.Status != RequestCompleted {
			t.Errorf("RequestErasure again = %+v, %v", again, err)
		}

		// Held.
		if _, err := p.PlaceHold(ctx, bob.ID, HoldInfo{Reference: "CASE-4", By: "legal"}); err != nil {
			t.Fatal(err)
		}
		held, _, err := p.RequestErasure(ctx, bob.ID, Request{Ticket: "DSR-2", By: "dpo"})
		wantLegalHold(t, err, "CASE-4")
		if held.Status != RequestHeld || held.HoldReference != "CASE-4" || held.Seq == 0 {
			t.Fatalf("held request = %+v", held)
		}
		opened := bob
		if err := p.Open(ctx, &opened); err != nil || opened.Name != "Bob" {
			t.Fatalf("a held request erased the subject: %q, %v", opened.Name, err)
		}
		if err := p.ReleaseHold(ctx, bob.ID, HoldInfo{Reference: "CASE-4", By: "legal"}); err != nil {
			t.Fatal(err)
		}
		done, receipt, err := p.RequestErasure(ctx, bob.ID, Request{Ticket: "DSR-2", By: "dpo"})
		if err != nil || done.Seq != held.Seq || done.Status != RequestCompleted || done.ReceiptSeq != receipt.Seq || done.HoldReference != "CASE-4" {
			t.Fatalf("RequestErasure after the release = %+v, %v", done, err)
		}
		list, err := p.ErasureRequests(ctx, bob.ID)
		if err != nil || len(list) != 1 || list[0] != done {
			t.Errorf("ErasureRequests(bob) = %+v, %v\nwant %+v", list, err, done)
		}
		all, err := AllErasureRequests(ctx, store)
		if err != nil || len(all) != 2 {
			t.Fatalf("AllErasureRequests = %+v, %v", all, err)
		}
		for _, r := range all {
			if strings.Contains(r.Subject, "@") {
				t.Errorf("a request names the identifier: %+v", r)
			}
		}
		if _, _, err := p.RequestErasure(ctx, "c@example.com", Request{Ticket: "bad\nticket", By: "dpo"}); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("malformed ticket = %v, want ErrInvalidArgument", err)
		}
		if all2, _ := AllErasureRequests(ctx, store); len(all2) != 2 {
			t.Errorf("a malformed request was recorded: %+v", all2)
		}
	})
}

// TestLateRequests: the late report lists requests completed after their
// deadline and open ones past it, against their own deadline or a given
// one.
func TestLateRequests(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC()
	store := readdressStores(t)["sqlite"](t)
	p := mustNew(t, kmstest.New("test:1"), store)
	day := 24 * time.Hour
	_, _, err := p.RequestErasure(ctx, "a", Request{Ticket: "ON-TIME", By: "dpo", Received: now.Add(-5 * day)})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = p.RequestErasure(ctx, "b", Request{Ticket: "LATE", By: "dpo", Received: now.Add(-40 * day)})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = p.RequestErasure(ctx, "c", Request{Ticket: "TIGHT", By: "dpo", Received: now.Add(-3 * day), Deadline: now.Add(-2 * day)})
	if err != nil {
		t.Fatal(err)
	}
	// An open request (received, never carried out: an interrupted run).
	log := store.(keystore.RequestLog)
	ids, _ := p.ring.addresses("d")
	if _, err := log.AppendRequest(ctx, keystore.RequestEvent{ID: ids[0], Action: keystore.RequestReceived, At: now.Add(-31 * day), By: "dpo", Ticket: "OPEN", Deadline: now.Add(-day)}); err != nil {
		t.Fatal(err)
	}
	if _, err := log.AppendRequest(ctx, keystore.RequestEvent{ID: ids[0], Action: keystore.RequestReceived, At: now.Add(-day), By: "dpo", Ticket: "OPEN-FRESH", Deadline: now.Add(29 * day)}); err != nil {
		t.Fatal(err)
	}
	all, err := AllErasureRequests(ctx, store)
	if err != nil || len(all) != 5 {
		t.Fatalf("AllErasureRequests = %+v, %v", all, err)
	}
	tickets := func(rs []ErasureRequest) string {
		var s []string
		for _, r := range rs {
			s = append(s, r.Ticket)
		}
		return strings.Join(s, ",")
	}
	// The completions happened just now (the Protector's clock).
	if got := tickets(LateRequests(all, time.Now(), 0)); got != "LATE,TIGHT,OPEN" {
		t.Errorf("late by their own deadlines: %s", got)
	}
	if got := tickets(LateRequests(all, time.Now(), 4*day)); got != "ON-TIME,LATE,OPEN" {
		t.Errorf("late against 4 days: %s", got)
	}
}

package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fieldcrypt/fieldcrypt/keystore"
)

// The cases of the rights interfaces (keystore.Holder, RequestLog,
// ConsentStore), skipped for stores that do not implement them.

func holder(t *testing.T, s keystore.Store) keystore.Holder {
	t.Helper()
	h, ok := s.(keystore.Holder)
	if !ok {
		t.Skip("the store does not implement keystore.Holder")
	}
	return h
}

func requestLog(t *testing.T, s keystore.Store) keystore.RequestLog {
	t.Helper()
	r, ok := s.(keystore.RequestLog)
	if !ok {
		t.Skip("the store does not implement keystore.RequestLog")
	}
	return r
}

func consentStore(t *testing.T, s keystore.Store) keystore.ConsentStore {
	t.Helper()
	c, ok := s.(keystore.ConsentStore)
	if !ok {
		t.Skip("the store does not implement keystore.ConsentStore")
	}
	return c
}

var t0 = time.Date(2026, 11, 1, 9, 0, 0, 123000, time.UTC)

func wantHeld(t *testing.T, err error, id, ref string) {
	t.Helper()
	var he *keystore.HoldError
	if !errors.Is(err, keystore.ErrHeld) || !errors.As(err, &he) || he.ID != id || he.Reference != ref {
		t.Fatalf("err = %v, want a *HoldError for %s with reference %q", err, id, ref)
	}
}

// testHoldRefusesErasure: a held ID is neither deleted nor expired, and
// nothing changes; after the release it is.
func testHoldRefusesErasure(t *testing.T, s keystore.Store) {
	ctx := context.Background()
	h := holder(t, s)
	r := rec("a", "wrapped-a")
	r.RetainUntil = t0
	created, _, err := s.Create(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if placed, err := h.Hold(ctx, "a", keystore.HoldInfo{Reference: "CASE-1", By: "legal", At: t0}); err != nil || !placed {
		t.Fatalf("Hold = %v, %v", placed, err)
	}
	_, err = s.Delete(ctx, keystore.Tombstone{ID: "a", Reason: "request"})
	wantHeld(t, err, "a", "CASE-1")
	_, err = s.DeleteExpired(ctx, keystore.Tombstone{ID: "a", Reason: "retention"}, t0.Add(time.Hour))
	wantHeld(t, err, "a", "CASE-1")
	assertUntouched(t, s, created)
	if rs, _ := s.Receipts(ctx, keystore.ReceiptQuery{Limit: 10}); len(rs) != 0 {
		t.Errorf("receipts after refused erasures: %+v", rs)
	}
	if err := h.Release(ctx, "a", keystore.HoldInfo{Reference: "CASE-1", By: "legal", At: t0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	d, err := s.Delete(ctx, keystore.Tombstone{ID: "a", Reason: "request"})
	if err != nil || !d.Found {
		t.Fatalf("Delete after release = %+v, %v", d, err)
	}
	rs, err := s.Receipts(ctx, keystore.ReceiptQuery{Limit: 10})
	if err != nil || len(rs) != 1 || d.ReceiptSeq != rs[0].Seq {
		t.Fatalf("Deletion.ReceiptSeq = %d, receipts %+v, %v", d.ReceiptSeq, rs, err)
	}
	// A repeated erasure that finds nothing appends no receipt: seq 0.
	if d, err := s.Delete(ctx, keystore.Tombstone{ID: "a", Reason: "request"}); err != nil || d.ReceiptSeq != 0 {
		t.Errorf("repeated Delete = %+v, %v; want ReceiptSeq 0", d, err)
	}
}

// testHoldBeforeData: a hold may stand on an ID with no record; it refuses
// the erasure (no tombstone is written) but not the creation of keys.
func testHoldBeforeData(t *testing.T, s keystore.Store) {
	ctx := context.Background()
	h := holder(t, s)
	if _, err := h.Hold(ctx, "early", keystore.HoldInfo{Reference: "CASE-2", By: "legal"}); err != nil {
		t.Fatal(err)
	}
	_, err := s.Delete(ctx, keystore.Tombstone{ID: "early", Reason: "request"})
	wantHeld(t, err, "early", "CASE-2")
	if _, err := s.GetTombstone(ctx, "early"); !errors.Is(err, keystore.ErrNotFound) {
		t.Errorf("a refused Delete wrote a tombstone: %v", err)
	}
	if _, created, err := s.Create(ctx, rec("early", "w")); err != nil || !created {
		t.Errorf("Create under hold = %v, %v; want created", created, err)
	}
	hs, err := h.Holds(ctx, "early")
	if err != nil || len(hs) != 1 || hs[0].Reference != "CASE-2" || hs[0].By != "legal" || hs[0].ID != "early" || hs[0].At.IsZero() {
		t.Errorf("Holds = %+v, %v", hs, err)
	}
}

// testHoldErased: an erased ID cannot be held.
func testHoldErased(t *testing.T, s keystore.Store) {
	ctx := context.Background()
	h := holder(t, s)
	if _, err := s.Delete(ctx, keystore.Tombstone{ID: "gone", Reason: "request"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Hold(ctx, "gone", keystore.HoldInfo{Reference: "CASE-3", By: "legal"}); !errors.Is(err, keystore.ErrTombstoned) {
		t.Errorf("Hold on an erased ID = %v, want ErrTombstoned", err)
	}
	if hs, _ := h.Holds(ctx, "gone"); len(hs) != 0 {
		t.Errorf("holds on an erased ID: %+v", hs)
	}
	if ev, _ := h.HoldHistory(ctx, keystore.HistoryQuery{Limit: 10}); len(ev) != 0 {
		t.Errorf("a refused hold was recorded: %+v", ev)
	}
}

// testHoldsAndHistory: several references, idempotent placing, release of
// one at a time, the append-only history, HeldIDs.
func testHoldsAndHistory(t *testing.T, s keystore.Store) {
	ctx := context.Background()
	h := holder(t, s)
	hold := func(id, ref string, at time.Time) bool {
		t.Helper()
		placed, err := h.Hold(ctx, id, keystore.HoldInfo{Reference: ref, By: "counsel", At: at})
		if err != nil {
			t.Fatal(err)
		}
		return placed
	}
	if !hold("x", "B-2", t0) || !hold("x", "A-1", t0.Add(time.Second)) || !hold("y", "C-3", t0) {
		t.Fatal("a new hold was not placed")
	}
	if hold("x", "B-2", t0.Add(time.Hour)) {
		t.Error("placing a standing hold again reported placed")
	}
	hs, err := h.Holds(ctx, "x")
	if err != nil || len(hs) != 2 || hs[0].Reference != "B-2" || !hs[0].At.Equal(t0) || hs[1].Reference != "A-1" {
		t.Fatalf("Holds(x) = %+v, %v; want B-2 (oldest) then A-1", hs, err)
	}
	if err := h.Release(ctx, "x", keystore.HoldInfo{Reference: "B-2", By: "counsel", At: t0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	_, err = s.Delete(ctx, keystore.Tombstone{ID: "x", Reason: "request"})
	wantHeld(t, err, "x", "A-1")
	if err := h.Release(ctx, "x", keystore.HoldInfo{Reference: "B-2", By: "counsel"}); !errors.Is(err, keystore.ErrNotFound) {
		t.Errorf("releasing a lifted hold = %v, want ErrNotFound", err)
	}
	ids, err := h.HeldIDs(ctx, "", 10)
	if err != nil || strings.Join(ids, ",") != "x,y" {
		t.Errorf("HeldIDs = %v, %v", ids, err)
	}
	if ids, _ := h.HeldIDs(ctx, "x", 10); strings.Join(ids, ",") != "y" {
		t.Errorf("HeldIDs after x = %v", ids)
	}
	ev, err := h.HoldHistory(ctx, keystore.HistoryQuery{ID: "x", Limit: 10})
	if err != nil || len(ev) != 3 {
		t.Fatalf("HoldHistory(x) = %+v, %v; want 3 events", ev, err)
	}
	want := []string{"placed B-2", "placed A-1", "released B-2"}
	for i, e := range ev {
		if got := e.Action + " " + e.Reference; got != want[i] || e.ID != "x" || e.By != "counsel" {
			t.Errorf("event %d = %+v, want %s", i, e, want[i])
		}
		if i > 0 && e.Seq <= ev[i-1].Seq {
			t.Errorf("history out of order: %+v", ev)
		}
	}
	if !ev[2].At.Equal(t0.Add(time.Minute)) {
		t.Errorf("release time = %v", ev[2].At)
	}
	all, _ := h.HoldHistory(ctx, keystore.HistoryQuery{Limit: 10})
	later, _ := h.HoldHistory(ctx, keystore.HistoryQuery{After: all[0].Seq, Limit: 2})
	if len(all) != 4 || len(later) != 2 || later[0].Seq != all[1].Seq {
		t.Errorf("history paging: all %+v, after the first %+v", all, later)
	}
}

// testHoldInvalid: malformed references, actors and IDs are refused, and
// change nothing.
func testHoldInvalid(t *testing.T, s keystore.Store) {
	ctx := context.Background()
	h := holder(t, s)
	for _, hi := range []keystore.HoldInfo{
		{Reference: "", By: "legal"},
		{Reference: "CASE\n1", By: "legal"},
		{Reference: " CASE", By: "legal"},
		{Reference: strings.Repeat("x", keystore.MaxLabelLength+1), By: "legal"},
		{Reference: "CASE-1", By: ""},
		{Reference: "CASE-1", By: "l\x00egal"},
	} {
		if _, err := h.Hold(ctx, "a", hi); !errors.Is(err, keystore.ErrInvalid) {
			t.Errorf("Hold(%q by %q) = %v, want ErrInvalid", hi.Reference, hi.By, err)
		}
	}
	if _, err := h.Hold(ctx, "bad id", keystore.HoldInfo{Reference: "R", By: "B"}); !errors.Is(err, keystore.ErrInvalid) {
		t.Errorf("Hold(bad id) = %v, want ErrInvalid", err)
	}
	if _, err := h.HoldHistory(ctx, keystore.HistoryQuery{}); !errors.Is(err, keystore.ErrInvalid) {
		t.Errorf("HoldHistory(limit 0) = %v, want ErrInvalid", err)
	}
	if ids, _ := h.HeldIDs(ctx, "", 10); len(ids) != 0 {
		t.Errorf("invalid holds left: %v", ids)
	}
}

// testHoldDeleteRace: a hold and an erasure of one ID, concurrently,
// resolve in one order: held and not erased, or erased and not held.
func testHoldDeleteRace(t *testing.T, s keystore.Store) {
	ctx := context.Background()
	h := holder(t, s)
	for i := range 20 {
		id := fmt.Sprintf("race-%d", i)
		if _, _, err := s.Create(ctx, rec(id, "w")); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var holdErr, delErr error
		wg.Add(2)
		go func() { defer wg.Done(); _, holdErr = h.Hold(ctx, id, keystore.HoldInfo{Reference: "R", By: "B"}) }()
		go func() { defer wg.Done(); _, delErr = s.Delete(ctx, keystore.Tombstone{ID: id, Reason: "request"}) }()
		wg.Wait()
		hs, _ := h.Holds(ctx, id)
		_, tombErr := s.GetTombstone(ctx, id)
		erased := tombErr == nil
		switch {
		case holdErr == nil && errors.Is(delErr, keystore.ErrHeld):
			if erased || len(hs) != 1 {
				t.Fatalf("%s: hold won, but erased=%v holds=%v", id, erased, hs)
			}
		case delErr == nil && errors.Is(holdErr, keystore.ErrTombstoned):
			if !erased || len(hs) != 0 {
				t.Fatalf("%s: erasure won, but erased=%v holds=%v", id, erased, hs)
			}
		default:
			t.Fatalf("%s: Hold = %v, Delete = %v: not one order", id, holdErr, delErr)
		}
	}
}

// testRequestLog: received, completed and refused events, their checks,
// and queries.
func testRequestLog(t *testing.T, s keystore.Store) {
	ctx := context.Background()
	l := requestLog(t, s)
	recv, err := l.AppendRequest(ctx, keystore.RequestEvent{
		ID: "a", Action: keystore.RequestReceived, At: t0, By: "dpo", Ticket: "TCK-1", Deadline: t0.Add(30 * 24 * time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	if recv.Seq <= 0 || recv.Request != recv.Seq || !recv.At.Equal(t0) || !recv.Deadline.Equal(t0.Add(30*24*time.Hour)) {
		t.Fatalf("received = %+v", recv)
	}
	other, err := l.AppendRequest(ctx, keystore.RequestEvent{ID: "b", Action: keystore.RequestReceived, By: "dpo", Ticket: "TCK-2", Deadline: time.Now().Add(time.Hour)})
	if err != nil || other.At.IsZero() {
		t.Fatalf("received without a time = %+v, %v; want now", other, err)
	}
	bad := []keystore.RequestEvent{
		{ID: "a", Action: keystore.RequestReceived, At: t0, By: "dpo", Ticket: "", Deadline: t0.Add(time.Hour)},
		{ID: "a", Action: keystore.RequestReceived, At: t0, By: "dpo", Ticket: "T\x01", Deadline: t0.Add(time.Hour)},
		{ID: "a", Action: keystore.RequestReceived, At: t0, By: "dpo", Ticket: "T"},
		{ID: "a", Action: keystore.RequestReceived, At: t0, By: "dpo", Ticket: "T", Deadline: t0},
		{ID: "a", Action: keystore.RequestReceived, At: t0, By: "", Ticket: "T", Deadline: t0.Add(time.Hour)},
		{ID: "a", Action: "deleted", At: t0, By: "dpo"},
		{ID: "a", Action: keystore.RequestCompleted, At: t0, By: "dpo"},
		{ID: "a", Action: keystore.RequestRefused, Request: recv.Seq, At: t0, By: "dpo"},
	}
	for _, e := range bad {
		if _, err := l.AppendRequest(ctx, e); !errors.Is(err, keystore.ErrInvalid) {
			t.Errorf("AppendRequest(%+v) = %v, want ErrInvalid", e, err)
		}
	}
	// A completion must name a received request of the same ID.
	for _, e := range []keystore.RequestEvent{
		{ID: "b", Action: keystore.RequestCompleted, Request: recv.Seq, By: "dpo"},
		{ID: "a", Action: keystore.RequestCompleted, Request: recv.Seq + 100, By: "dpo"},
	} {
		if _, err := l.AppendRequest(ctx, e); !errors.Is(err, keystore.ErrNotFound) {
			t.Errorf("AppendRequest(%+v) = %v, want ErrNotFound", e, err)
		}
	}
	refused, err := l.AppendRequest(ctx, keystore.RequestEvent{ID: "a", Action: keystore.RequestRefused, Request: recv.Seq, At: t0.Add(time.Hour), By: "dpo", Reference: "CASE-1"})
	if err != nil {
		t.Fatal(err)
	}
	done, err := l.AppendRequest(ctx, keystore.RequestEvent{ID: "a", Action: keystore.RequestCompleted, Request: recv.Seq, At: t0.Add(48 * time.Hour), By: "dpo", ReceiptSeq: 7})
	if err != nil {
		t.Fatal(err)
	}
	evs, err := l.RequestEvents(ctx, keystore.HistoryQuery{ID: "a", Limit: 10})
	if err != nil || len(evs) != 3 {
		t.Fatalf("RequestEvents(a) = %+v, %v", evs, err)
	}
	if evs[1] != refused || evs[2] != done || evs[2].ReceiptSeq != 7 || evs[1].Reference != "CASE-1" || evs[2].Request != recv.Seq {
		t.Errorf("events = %+v\nwant refused %+v, completed %+v", evs, refused, done)
	}
	if evs[0].Ticket != "TCK-1" || evs[0].By != "dpo" {
		t.Errorf("received as read = %+v", evs[0])
	}
	if all, _ := l.RequestEvents(ctx, keystore.HistoryQuery{Limit: 10}); len(all) != 4 {
		t.Errorf("all events = %+v", all)
	}
	if after, _ := l.RequestEvents(ctx, keystore.HistoryQuery{After: recv.Seq, Limit: 1}); len(after) != 1 || after[0].Seq != other.Seq {
		t.Errorf("events after the first = %+v", after)
	}
}

// testConsent: grants and withdrawals, the current state, the history, an
// out-of-order change, and refusals.
func testConsent(t *testing.T, s keystore.Store) {
	ctx := context.Background()
	c := consentStore(t, s)
	set := func(id, purpose string, grant bool, at time.Time) keystore.ConsentEvent {
		t.Helper()
		e, err := c.SetConsent(ctx, keystore.ConsentChange{ID: id, Purpose: purpose, Grant: grant, Actor: "web", At: at})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	g := set("a", "marketing", true, t0)
	if g.Action != keystore.ConsentGranted || g.Purpose != "marketing" || g.ID != "a" || g.Actor != "web" || !g.At.Equal(t0) || g.Seq <= 0 {
		t.Fatalf("grant event = %+v", g)
	}
	set("a", "analytics", true, t0)
	set("a", "marketing", false, t0.Add(time.Hour))
	// A change older than the state is recorded but does not win.
	set("a", "marketing", true, t0.Add(time.Minute))
	set("b", "marketing", true, t0)
	cs, err := c.Consents(ctx, "a")
	if err != nil || len(cs) != 2 {
		t.Fatalf("Consents(a) = %+v, %v", cs, err)
	}
	if cs[0].Purpose != "analytics" || !cs[0].Granted || cs[1].Purpose != "marketing" || cs[1].Granted || !cs[1].At.Equal(t0.Add(time.Hour)) || cs[1].ID != "a" {
		t.Errorf("Consents(a) = %+v; want analytics granted, marketing withdrawn at +1h", cs)
	}
	h, err := c.ConsentHistory(ctx, keystore.HistoryQuery{ID: "a", Limit: 10})
	if err != nil || len(h) != 4 {
		t.Fatalf("ConsentHistory(a) = %+v, %v", h, err)
	}
	if h[2].Action != keystore.ConsentWithdrawn || h[3].Action != keystore.ConsentGranted || h[0] != g {
		t.Errorf("history = %+v", h)
	}
	if cs, err := c.Consents(ctx, "nobody"); err != nil || len(cs) != 0 {
		t.Errorf("Consents(nobody) = %+v, %v", cs, err)
	}
	if ids, err := c.ConsentIDs(ctx, "", 10); err != nil || strings.Join(ids, ",") != "a,b" {
		t.Errorf("ConsentIDs = %v, %v", ids, err)
	}
	for _, ch := range []keystore.ConsentChange{
		{ID: "a", Purpose: "", Grant: true, Actor: "web"},
		{ID: "a", Purpose: "Marketing", Grant: true, Actor: "web"},
		{ID: "a", Purpose: "1st", Grant: true, Actor: "web"},
		{ID: "a", Purpose: "mark eting", Grant: true, Actor: "web"},
		{ID: "a", Purpose: strings.Repeat("m", keystore.MaxPurposeLength+1), Grant: true, Actor: "web"},
		{ID: "a", Purpose: "billing", Grant: true, Actor: ""},
		{ID: "", Purpose: "billing", Grant: true, Actor: "web"},
	} {
		if _, err := c.SetConsent(ctx, ch); !errors.Is(err, keystore.ErrInvalid) {
			t.Errorf("SetConsent(%+v) = %v, want ErrInvalid", ch, err)
		}
	}
	if _, err := s.Delete(ctx, keystore.Tombstone{ID: "gone", Reason: "request"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetConsent(ctx, keystore.ConsentChange{ID: "gone", Purpose: "billing", Grant: true, Actor: "web"}); !errors.Is(err, keystore.ErrTombstoned) {
		t.Errorf("SetConsent(erased) = %v, want ErrTombstoned", err)
	}
	if h, _ := c.ConsentHistory(ctx, keystore.HistoryQuery{Limit: 100}); len(h) != 5 {
		t.Errorf("refused changes were recorded: %+v", h)
	}
}

// testReaddressMovesRights: a record's holds and consent move with it;
// histories stay where they were written.
func testReaddressMovesRights(t *testing.T, s keystore.Store) {
	ctx := context.Background()
	rd := readdresser(t, s)
	h, c := holder(t, s), consentStore(t, s)
	created, _, err := s.Create(ctx, rec("a", "wrapped-a"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Hold(ctx, "a", keystore.HoldInfo{Reference: "CASE-1", By: "legal", At: t0}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetConsent(ctx, keystore.ConsentChange{ID: "a", Purpose: "marketing", Grant: true, Actor: "web", At: t0}); err != nil {
		t.Fatal(err)
	}
	// To already has a later withdrawal of the same purpose: it wins.
	if _, err := c.SetConsent(ctx, keystore.ConsentChange{ID: "b", Purpose: "analytics", Grant: false, Actor: "app", At: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetConsent(ctx, keystore.ConsentChange{ID: "a", Purpose: "analytics", Grant: true, Actor: "web", At: t0}); err != nil {
		t.Fatal(err)
	}
	moved, err := rd.Readdress(ctx, moveOf(created, "b", "wrapped-b"))
	if err != nil || !moved.Moved || !moved.Rights {
		t.Fatalf("Readdress = %+v, %v; want the record and its rights moved", moved, err)
	}
	if hs, _ := h.Holds(ctx, "a"); len(hs) != 0 {
		t.Errorf("holds left at the old ID: %+v", hs)
	}
	if hs, _ := h.Holds(ctx, "b"); len(hs) != 1 || hs[0].Reference != "CASE-1" || hs[0].ID != "b" || !hs[0].At.Equal(t0) {
		t.Errorf("holds at the new ID: %+v", hs)
	}
	_, err = s.Delete(ctx, keystore.Tombstone{ID: "b", Reason: "request"})
	wantHeld(t, err, "b", "CASE-1")
	if cs, _ := c.Consents(ctx, "a"); len(cs) != 0 {
		t.Errorf("consent left at the old ID: %+v", cs)
	}
	cs, _ := c.Consents(ctx, "b")
	if len(cs) != 2 || cs[0].Purpose != "analytics" || cs[0].Granted || cs[1].Purpose != "marketing" || !cs[1].Granted || cs[1].ID != "b" {
		t.Errorf("consent at the new ID: %+v; want analytics withdrawn (the later), marketing granted", cs)
	}
	if ev, _ := h.HoldHistory(ctx, keystore.HistoryQuery{ID: "a", Limit: 10}); len(ev) != 1 {
		t.Errorf("hold history was moved: %+v", ev)
	}
	if ev, _ := c.ConsentHistory(ctx, keystore.HistoryQuery{ID: "a", Limit: 10}); len(ev) != 2 {
		t.Errorf("consent history was moved: %+v", ev)
	}
}

// testReaddressRightsOnly: an ID with only a hold and consent (no record,
// no tombstone) moves too; an ID with nothing is ErrNotFound.
func testReaddressRightsOnly(t *testing.T, s keystore.Store) {
	ctx := context.Background()
	rd := readdresser(t, s)
	h, c := holder(t, s), consentStore(t, s)
	if _, err := h.Hold(ctx, "a", keystore.HoldInfo{Reference: "CASE-1", By: "legal"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetConsent(ctx, keystore.ConsentChange{ID: "c", Purpose: "billing", Grant: true, Actor: "web"}); err != nil {
		t.Fatal(err)
	}
	for from, to := range map[string]string{"a": "b", "c": "d"} {
		moved, err := rd.Readdress(ctx, keystore.Move{From: from, To: to})
		if err != nil || !moved.Rights || moved.Moved || moved.Tombstoned {
			t.Errorf("Readdress(%s) = %+v, %v; want rights only", from, moved, err)
		}
	}
	if hs, _ := h.Holds(ctx, "b"); len(hs) != 1 {
		t.Errorf("hold not moved: %+v", hs)
	}
	if cs, _ := c.Consents(ctx, "d"); len(cs) != 1 || !cs[0].Granted {
		t.Errorf("consent not moved: %+v", cs)
	}
	if _, err := rd.Readdress(ctx, keystore.Move{From: "a", To: "b"}); !errors.Is(err, keystore.ErrNotFound) {
		t.Errorf("Readdress of a moved ID = %v, want ErrNotFound", err)
	}
}

// testReaddressHeldTombstone: a merge of a held ID with a tombstone would
// erase a held subject: refused, nothing changes.
func testReaddressHeldTombstone(t *testing.T, s keystore.Store) {
	ctx := context.Background()
	rd := readdresser(t, s)
	h := holder(t, s)
	created, _, err := s.Create(ctx, rec("a", "wrapped-a"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Hold(ctx, "a", keystore.HoldInfo{Reference: "CASE-1", By: "legal"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctx, keystore.Tombstone{ID: "b", Reason: "request"}); err != nil {
		t.Fatal(err)
	}
	_, err = rd.Readdress(ctx, moveOf(created, "b", "wrapped-b"))
	wantHeld(t, err, "a", "CASE-1")
	_, err = rd.Readdress(ctx, keystore.Move{From: "b", To: "a"})
	wantHeld(t, err, "a", "CASE-1")
	assertUntouched(t, s, created)
	if _, err := s.GetTombstone(ctx, "b"); err != nil {
		t.Errorf("tombstone at b: %v", err)
	}
	if hs, _ := h.Holds(ctx, "a"); len(hs) != 1 {
		t.Errorf("holds at a: %+v", hs)
	}
}

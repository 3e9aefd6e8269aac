package pii_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fieldcrypt/fieldcrypt/audit"
	"github.com/fieldcrypt/fieldcrypt/keystore"
	"github.com/fieldcrypt/fieldcrypt/pii"
)

// recorder is an Auditor that keeps events, and fails while fail is set.
type recorder struct {
	mu     sync.Mutex
	events []audit.Event
	fail   error
}

func (r *recorder) Audit(_ context.Context, e audit.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	if err := e.Validate(); err != nil {
		return err
	}
	r.events = append(r.events, e)
	return nil
}

func (r *recorder) take() []audit.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.events
	r.events = nil
	return out
}

// noPersonalData fails if any event, as stored, holds a value of c or its
// subject identifier.
func noPersonalData(t *testing.T, evs []audit.Event, secrets ...string) {
	t.Helper()
	for _, e := range evs {
		b, _ := e.MarshalCanonical()
		for _, s := range secrets {
			if s != "" && strings.Contains(string(b), s) {
				t.Fatalf("event %s holds %q", b, s)
			}
		}
	}
}

func TestAuditSealOpen(t *testing.T) {
	rec := &recorder{}
	e := newEnv(t, pii.WithAuditor(rec))
	ctx := pii.WithAccess(context.Background(), pii.Access{Actor: "billing-job", Purpose: "billing"})
	c := sampleCustomer("subject-ada@example.com")
	if err := e.p.Seal(ctx, &c); err != nil {
		t.Fatal(err)
	}
	if err := e.p.Open(ctx, &c); err != nil {
		t.Fatal(err)
	}
	evs := rec.take()
	if len(evs) != 2 {
		t.Fatalf("%d events, want 2: %+v", len(evs), evs)
	}
	seal, open := evs[0], evs[1]
	id, _ := pii.RecordIDOf(e.p, c.ID)
	for _, ev := range evs {
		if ev.Type != "Customer" || ev.Subject != id || ev.Actor != "billing-job" || ev.Purpose != "billing" || ev.Outcome != audit.OutcomeOK {
			t.Errorf("event %+v", ev)
		}
	}
	if seal.Op != audit.OpSeal || open.Op != audit.OpOpen {
		t.Errorf("ops %s, %s", seal.Op, open.Op)
	}
	want := []string{"Customer.Name", "Customer.Email", "Customer.Notes", "Customer.Nick", "Customer.Aliases", "Customer.Pair",
		"Customer.Labels", "Customer.Home.Street", "Customer.Home.Zip", "Customer.Work.Street", "Customer.Work.Zip",
		"Customer.Phones.Number", "Customer.ByKind.Number"}
	for _, got := range [][]string{seal.Sealed, open.Opened} {
		if !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))) {
			t.Errorf("fields %q, want %q", got, want)
		}
	}
	if len(seal.Opened) != 0 || len(open.Sealed) != 0 {
		t.Errorf("seal lists opened or open lists sealed: %+v", evs)
	}
	noPersonalData(t, evs, c.ID, "Ada", "ada@", "Countess", "SW1Y")
}

func TestAuditFailureClosesAndChangesNothing(t *testing.T) {
	rec := &recorder{}
	e := newEnv(t, pii.WithAuditor(rec))
	ctx := context.Background()
	c := sampleCustomer("s1")
	if err := e.p.Seal(ctx, &c); err != nil {
		t.Fatal(err)
	}
	sealed := deepCopy(c)
	sink := errors.New("sink down")
	rec.fail = sink

	err := e.p.Open(ctx, &c)
	var ae *pii.AuditError
	if !errors.As(err, &ae) || !errors.Is(err, pii.ErrAudit) || !errors.Is(err, sink) || ae.Applied {
		t.Fatalf("Open with a failing Auditor: %v", err)
	}
	if !reflect.DeepEqual(c, sealed) {
		t.Fatal("Open changed the value although its audit failed")
	}
	plain := sampleCustomer("s2")
	before := deepCopy(plain)
	if err := e.p.Seal(ctx, &plain); !errors.Is(err, pii.ErrAudit) {
		t.Fatalf("Seal with a failing Auditor: %v", err)
	}
	if !reflect.DeepEqual(plain, before) {
		t.Fatal("Seal changed the value although its audit failed")
	}
	list := []Customer{deepCopy(sealed), deepCopy(sealed)}
	if err := e.p.OpenAll(ctx, list); !errors.Is(err, pii.ErrAudit) {
		t.Fatalf("OpenAll: %v", err)
	}
	if errs, err := e.p.OpenEach(ctx, list); !errors.Is(err, pii.ErrAudit) || errs != nil {
		t.Fatalf("OpenEach: %v %v", errs, err)
	}
	if !reflect.DeepEqual(list[0], sealed) || !reflect.DeepEqual(list[1], sealed) {
		t.Fatal("bulk Open changed values although the audit failed")
	}
	rec.fail = nil
	if err := e.p.Open(ctx, &c); err != nil {
		t.Fatal(err)
	}
}

func TestAuditFailedOpen(t *testing.T) {
	rec := &recorder{}
	e := newEnv(t, pii.WithAuditor(rec))
	ctx := pii.WithAccess(context.Background(), pii.Access{Actor: "support"})
	c := sampleCustomer("s1")
	if err := e.p.Seal(ctx, &c); err != nil {
		t.Fatal(err)
	}
	if _, err := e.p.Forget(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	rec.take()
	if err := e.p.Open(ctx, &c); !errors.Is(err, pii.ErrForgotten) {
		t.Fatal(err)
	}
	first := rec.take()
	d := sampleCustomer("s2")
	if err := e.p.Seal(ctx, &d); err != nil {
		t.Fatal(err)
	}
	rec.take()
	d.Name = d.Name[:len(d.Name)-2] + "AA"
	if err := e.p.Open(ctx, &d); !errors.Is(err, pii.ErrAuthentication) && !errors.Is(err, pii.ErrMalformed) {
		t.Fatal(err)
	}
	if err := e.p.Open(ctx, &struct{ X int }{}); err != nil {
		t.Fatal(err) // nothing to open: no error, audited as ok
	}
	if err := e.p.Open(ctx, 3); !errors.Is(err, pii.ErrInvalidArgument) {
		t.Fatal(err)
	}
	evs := append(first, rec.take()...)
	id, _ := pii.RecordIDOf(e.p, "s1")
	want := []string{audit.OutcomeForgotten, audit.OutcomeAuthentication, audit.OutcomeOK, audit.OutcomeInvalid}
	if len(evs) != len(want) {
		t.Fatalf("%d events: %+v", len(evs), evs)
	}
	for i, ev := range evs {
		if ev.Outcome != want[i] || ev.Actor != "support" || len(ev.Opened) != 0 {
			t.Errorf("event %d: %+v, want outcome %s", i, ev, want[i])
		}
	}
	if evs[0].Subject != id {
		t.Errorf("forgotten open: subject %q, want %q", evs[0].Subject, id)
	}
}

func TestAuditBulk(t *testing.T) {
	rec := &recorder{}
	e := newEnv(t, pii.WithAuditor(rec))
	ctx := context.Background()
	list := []Customer{sampleCustomer("a"), sampleCustomer("b"), sampleCustomer("c")}
	if err := e.p.SealAll(ctx, list); err != nil {
		t.Fatal(err)
	}
	if _, err := e.p.Forget(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	rec.take()
	errs, err := e.p.OpenEach(ctx, list)
	if err != nil || errs[0] != nil || !errors.Is(errs[1], pii.ErrForgotten) || errs[2] != nil {
		t.Fatal(errs, err)
	}
	evs := rec.take()
	if len(evs) != 1 {
		t.Fatalf("%+v", evs)
	}
	ev := evs[0]
	var ids []string
	for _, s := range []string{"a", "b", "c"} {
		id, _ := pii.RecordIDOf(e.p, s)
		ids = append(ids, id)
	}
	slices.Sort(ids)
	if ev.Records != 3 || ev.Failed != 1 || ev.Outcome != audit.OutcomeForgotten || !slices.Equal(ev.Subjects, ids) || ev.Subject != "" {
		t.Errorf("OpenEach event %+v", ev)
	}
	if !slices.Contains(ev.Opened, "Customer.Phones.Number") {
		t.Errorf("opened %q", ev.Opened)
	}
	noPersonalData(t, evs, "Ada")
}

func TestAuditLifecycle(t *testing.T) {
	rec := &recorder{}
	e := newEnv(t, pii.WithAuditor(rec))
	ctx := pii.WithAccess(context.Background(), pii.Access{Actor: "dpo", Purpose: "erasure"})
	c := sampleCustomer("s1")
	if err := e.p.Seal(ctx, &c); err != nil {
		t.Fatal(err)
	}
	if _, err := e.p.RotateSubjectKey(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.p.RotateGlobalTokenKey(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.p.GrantConsent(ctx, "s1", pii.ConsentChange{Purpose: "marketing", Actor: "web"}); err != nil {
		t.Fatal(err)
	}
	if err := e.p.WithdrawConsent(ctx, "s1", pii.ConsentChange{Purpose: "marketing", Actor: "web"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.p.PlaceHold(ctx, "s1", pii.HoldInfo{Reference: "case-1", By: "legal"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.p.Forget(ctx, "s1"); !errors.Is(err, pii.ErrLegalHold) {
		t.Fatal(err)
	}
	if err := e.p.ReleaseHold(ctx, "s1", pii.HoldInfo{Reference: "case-1", By: "legal"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.p.RequestErasure(ctx, "s1", pii.Request{Ticket: "t-1", By: "dpo"}); err != nil {
		t.Fatal(err)
	}
	if err := e.p.Readmit(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	e2 := newEnv(t, pii.WithAuditor(rec), pii.WithRetention(time.Hour))
	for _, s := range []string{"x", "y"} {
		c := sampleCustomer(s)
		if err := e2.p.Seal(ctx, &c); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e2.p.Sweep(ctx, time.Now().Add(2*time.Hour), nil); err != nil {
		t.Fatal(err)
	}
	evs := rec.take()
	id, _ := pii.RecordIDOf(e.p, "s1")
	type row struct {
		op              audit.Op
		detail, outcome string
		subject         bool
	}
	want := []row{
		{audit.OpSeal, "", "ok", true},
		{audit.OpRotate, "rotate", "ok", true},
		{audit.OpRotate, "rotate global token key", "ok", false},
		{audit.OpConsentGrant, "", "ok", true},
		{audit.OpConsentWithdraw, "", "ok", true},
		{audit.OpHold, "", "ok", true},
		{audit.OpForget, "", "held", true},
		{audit.OpRelease, "", "ok", true},
		{audit.OpForget, "", "ok", true},
		{audit.OpErasureRequest, "", "ok", true},
		{audit.OpReadmit, "", "ok", true},
		{audit.OpSeal, "", "ok", false},
		{audit.OpSeal, "", "ok", false},
		{audit.OpExpire, "sweep", "ok", false},
	}
	if len(evs) != len(want) {
		for _, ev := range evs {
			t.Logf("%+v", ev)
		}
		t.Fatalf("%d events, want %d", len(evs), len(want))
	}
	for i, w := range want {
		ev := evs[i]
		if ev.Op != w.op || ev.Detail != w.detail || ev.Outcome != w.outcome || w.subject && ev.Subject != id {
			t.Errorf("event %d: %+v, want %+v", i, ev, w)
		}
		if ev.Actor != "dpo" {
			t.Errorf("event %d: actor %q", i, ev.Actor)
		}
	}
	if evs[3].Purpose != "marketing" {
		t.Errorf("consent event purpose %q", evs[3].Purpose)
	}
	if sw := evs[len(evs)-1]; sw.Records != 2 || len(sw.Subjects) != 2 {
		t.Errorf("sweep %+v", sw)
	}
	noPersonalData(t, evs, "s1\"", "Ada")
}

func TestAuditLifecycleFailureReported(t *testing.T) {
	rec := &recorder{}
	e := newEnv(t, pii.WithAuditor(rec))
	ctx := context.Background()
	c := sampleCustomer("s1")
	if err := e.p.Seal(ctx, &c); err != nil {
		t.Fatal(err)
	}
	rec.fail = errors.New("down")
	_, err := e.p.Forget(ctx, "s1")
	var ae *pii.AuditError
	if !errors.As(err, &ae) || !ae.Applied || ae.Op != audit.OpForget {
		t.Fatalf("Forget with a failing Auditor: %v", err)
	}
	// The erasure happened: it cannot be undone, and the caller knows it
	// is unaudited.
	if _, err := e.store.Get(ctx, mustID(t, e.p, "s1")); !errors.Is(err, keystore.ErrTombstoned) {
		t.Fatal(err)
	}
}

func mustID(t *testing.T, p *pii.Protector, s string) string {
	id, err := pii.RecordIDOf(p, s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestAccessContext(t *testing.T) {
	if _, ok := pii.AccessFrom(context.Background()); ok {
		t.Fatal("access in an empty context")
	}
	ctx := pii.WithAccess(context.Background(), pii.Access{Actor: "a", Purpose: "p"})
	if a, ok := pii.AccessFrom(ctx); !ok || a != (pii.Access{Actor: "a", Purpose: "p"}) {
		t.Fatal(a, ok)
	}
}

func TestAuditEventJSONHasNoUnknownFields(t *testing.T) {
	// The stored form is what the chain MACs: pin its field names.
	b, _ := json.Marshal(audit.Event{Time: time.Unix(0, 0).UTC(), Op: audit.OpOpen, Outcome: "ok"})
	if string(b) != `{"time":"1970-01-01T00:00:00Z","op":"open","outcome":"ok"}` {
		t.Fatal(string(b))
	}
}

type auditBase struct {
	Name string `pii:"encrypt"`
}

type auditA struct {
	ID string `pii:"subject"`
	auditBase
}

type auditB struct {
	ID string `pii:"subject"`
	auditBase
}

// TestAuditFieldPathsOfSharedEmbeddedStruct: two types embedding one
// struct report its fields under their own names.
func TestAuditFieldPathsOfSharedEmbeddedStruct(t *testing.T) {
	rec := &recorder{}
	e := newEnv(t, pii.WithAuditor(rec))
	ctx := context.Background()
	a := auditA{ID: "s", auditBase: auditBase{Name: "x"}}
	b := []auditB{{ID: "s", auditBase: auditBase{Name: "y"}}}
	if err := e.p.Seal(ctx, &a); err != nil {
		t.Fatal(err)
	}
	if err := e.p.SealAll(ctx, b); err != nil {
		t.Fatal(err)
	}
	evs := rec.take()
	if len(evs) != 2 || !slices.Equal(evs[0].Sealed, []string{"auditA.Name"}) || !slices.Equal(evs[1].Sealed, []string{"auditB.Name"}) || evs[1].Records != 1 {
		t.Fatalf("%+v", evs)
	}
}

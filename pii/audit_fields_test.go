package pii

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/fieldcrypt/fieldcrypt/audit"
	"github.com/fieldcrypt/fieldcrypt/keystore/memory"
	"github.com/fieldcrypt/fieldcrypt/kms/kmstest"
)

type fieldsRecorder struct{ events []audit.Event }

func (r *fieldsRecorder) Audit(_ context.Context, e audit.Event) error {
	r.events = append(r.events, e)
	return nil
}

// TestAuditFieldListsCached: the field lists of an Open of a flat type are
// computed once per combination of fields and classes and shared by the
// events that have it, read-only (an Auditor appending to one does not
// change another); a different purpose gets lists of its own.
func TestAuditFieldListsCached(t *testing.T) {
	type listsCard struct {
		ID     string `pii:"subject"`
		Holder string `pii:"encrypt"`
		Card   string `pii:"encrypt,purpose=billing,mask=last4"`
		Notes  string `pii:"encrypt,purpose=billing"`
	}
	ctx := context.Background()
	rec := &fieldsRecorder{}
	p, err := New(ctx, kmstest.New("test:1"), memory.New(), testPurposes, WithAuditor(rec))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	sealed := listsCard{ID: "ada", Holder: "Ada", Card: "4111111111111111", Notes: "vip"}
	if err := p.Seal(ctx, &sealed); err != nil {
		t.Fatal(err)
	}
	billing := WithAccess(ctx, Access{Actor: "job", Purpose: "billing"})
	support := WithAccess(ctx, Access{Actor: "agent", Purpose: "support"})
	for _, c := range []context.Context{billing, support, billing, support} {
		v := sealed
		if err := p.Open(c, &v); err != nil {
			t.Fatal(err)
		}
	}
	ev := rec.events[1:]
	names := func(paths []string) []string {
		var out []string
		for _, p := range paths {
			out = append(out, p[strings.LastIndexByte(p, '.')+1:])
		}
		return out
	}
	check := func(e audit.Event, opened, masked, refused []string) {
		t.Helper()
		if !slices.Equal(names(e.Opened), opened) || !slices.Equal(names(e.Masked), masked) || !slices.Equal(names(e.Refused), refused) {
			t.Errorf("purpose %s: opened %q, masked %q, refused %q", e.Purpose, e.Opened, e.Masked, e.Refused)
		}
	}
	for i := range 2 {
		check(ev[2*i], []string{"Holder", "Card", "Notes"}, nil, nil)
		check(ev[2*i+1], []string{"Holder"}, []string{"Card"}, []string{"Notes"})
	}
	if &ev[0].Opened[0] != &ev[2].Opened[0] || &ev[1].Masked[0] != &ev[3].Masked[0] {
		t.Error("the lists of the same fields and classes were computed twice")
	}
	grown := append(ev[0].Opened, "Extra.Field")
	grown[0] = "changed"
	if ev[2].Opened[0] == "changed" || len(ev[2].Opened) != 3 {
		t.Errorf("an Auditor's append changed another event's list: %q", ev[2].Opened)
	}
}

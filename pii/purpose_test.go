package pii

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fieldcrypt/fieldcrypt/audit"
	"github.com/fieldcrypt/fieldcrypt/keystore"
	"github.com/fieldcrypt/fieldcrypt/keystore/memory"
	"github.com/fieldcrypt/fieldcrypt/kms/kmstest"
	"github.com/fieldcrypt/fieldcrypt/mask"
)

// purposeCustomer has a field for each kind of restriction.
type purposeCustomer struct {
	ID     string            `pii:"subject"`
	Name   string            `pii:"encrypt"`                                    // every purpose
	Card   string            `pii:"encrypt,purpose=billing,mask=last4"`         // billing; last4 to the others
	Email  string            `pii:"encrypt,purpose=billing|support,mask=email"` // billing, support; the domain to the others
	Notes  string            `pii:"encrypt,purpose=support"`                    // support; sealed to the others
	Born   Sealed[time.Time] `pii:"encrypt,purpose=billing"`
	SSN    string            `pii:"token,format=ssn,purpose=billing,mask=last4"`
	Phones []string          `pii:"encrypt,purpose=support,mask=last4"`
	Home   purposeAddress
}

type purposeAddress struct {
	Street string `pii:"encrypt,purpose=billing"`
	City   string `pii:"encrypt"`
}

var testPurposes = WithPurposes(
	Purpose{Name: "billing"},
	Purpose{Name: "support"},
	Purpose{Name: "marketing", NeedsConsent: true},
)

var born = time.Date(1815, 12, 10, 0, 0, 0, 0, time.UTC)

func newPurposeCustomer(id string) purposeCustomer {
	return purposeCustomer{
		ID: id, Name: "Ada Lovelace", Card: "4111111111111111", Email: "ada@example.com",
		Notes: "prefers mornings", Born: NewSealed(born), SSN: "123-45-6789",
		Phones: []string{"+44 20 7946 0001"}, Home: purposeAddress{Street: "12 St James's Square", City: "London"},
	}
}

func as(purpose string) context.Context {
	return WithAccess(context.Background(), Access{Actor: "test", Purpose: purpose})
}

// sealedPurposeCustomer returns a Protector with the test purposes (and
// opts) on a memory store, and a sealed customer whose subject consents to
// marketing.
func sealedPurposeCustomer(t *testing.T, opts ...Option) (*Protector, purposeCustomer) {
	t.Helper()
	p, err := New(context.Background(), kmstest.New("test:1"), memory.New(), append([]Option{testPurposes}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	c := newPurposeCustomer("ada")
	if err := p.Seal(context.Background(), &c); err != nil {
		t.Fatal(err)
	}
	if err := p.GrantConsent(context.Background(), "ada", ConsentChange{Purpose: "marketing", Actor: "signup"}); err != nil {
		t.Fatal(err)
	}
	return p, c
}

// TestPurposeOpensPerPurpose: Open opens exactly the fields allowed for
// the purpose; the others keep their ciphertext, byte for byte, or show
// their mask.
func TestPurposeOpensPerPurpose(t *testing.T) {
	p, sealed := sealedPurposeCustomer(t)
	plain := newPurposeCustomer("ada")
	const (
		open    = "open"
		sealedV = "sealed"
	)
	masks := map[string]string{
		"Card": "••••••••••••1111", "Email": "•••@example.com", "SSN": "•••••••6789", "Phones": "••••••••••••0001",
	}
	want := map[string]map[string]string{ // purpose -> field -> open, sealed, or masked (the mask)
		"billing":   {"Name": open, "Card": open, "Email": open, "Notes": sealedV, "Born": open, "SSN": open, "Phones": masks["Phones"], "Street": open, "City": open},
		"support":   {"Name": open, "Card": masks["Card"], "Email": open, "Notes": open, "Born": sealedV, "SSN": masks["SSN"], "Phones": open, "Street": sealedV, "City": open},
		"marketing": {"Name": open, "Card": masks["Card"], "Email": masks["Email"], "Notes": sealedV, "Born": sealedV, "SSN": masks["SSN"], "Phones": masks["Phones"], "Street": sealedV, "City": open},
	}
	for purpose, fields := range want {
		t.Run(purpose, func(t *testing.T) {
			c := sealed
			c.Phones = append([]string(nil), sealed.Phones...)
			if err := p.Open(as(purpose), &c); err != nil {
				t.Fatal(err)
			}
			got := map[string][3]string{ // field -> got, plaintext, ciphertext
				"Name": {c.Name, plain.Name, sealed.Name}, "Card": {c.Card, plain.Card, sealed.Card},
				"Email": {c.Email, plain.Email, sealed.Email}, "Notes": {c.Notes, plain.Notes, sealed.Notes},
				"SSN": {c.SSN, plain.SSN, sealed.SSN}, "Phones": {c.Phones[0], plain.Phones[0], sealed.Phones[0]},
				"Street": {c.Home.Street, plain.Home.Street, sealed.Home.Street}, "City": {c.Home.City, plain.Home.City, sealed.Home.City},
			}
			for f, g := range got {
				switch w := fields[f]; w {
				case open:
					if g[0] != g[1] {
						t.Errorf("%s = %q, want it opened", f, g[0])
					}
				case sealedV:
					if g[0] != g[2] {
						t.Errorf("%s = %q, want it left sealed", f, g[0])
					}
				default:
					if g[0] != w || !mask.IsMasked(g[0]) {
						t.Errorf("%s = %q, want the mask %q", f, g[0], w)
					}
				}
			}
			b, err := c.Born.Get()
			switch fields["Born"] {
			case open:
				if err != nil || !b.Equal(born) {
					t.Errorf("Born = %v, %v", b, err)
				}
			default:
				if !errors.Is(err, ErrNotOpened) || !c.Born.IsSealed() {
					t.Errorf("Born.Get = %v, %v; want it left sealed", b, err)
				}
			}
		})
	}
}

// TestPurposeNoPurpose: a Protector with purposes refuses an Open without
// one (ErrNoPurpose, nothing changed) unless WithPurposeRequired(false),
// which opens only unrestricted fields; a Protector without purposes opens
// everything, as before, and WithPurposeRequired(true) makes it refuse.
func TestPurposeNoPurpose(t *testing.T) {
	ctx := context.Background()
	p, sealed := sealedPurposeCustomer(t)
	c := sealed
	if err := p.Open(ctx, &c); !errors.Is(err, ErrNoPurpose) || !reflect.DeepEqual(c, sealed) {
		t.Fatalf("Open without a purpose = %v (changed: %v), want ErrNoPurpose", err, !reflect.DeepEqual(c, sealed))
	}
	var pe *PurposeError
	if !errors.As(p.Open(WithAccess(ctx, Access{Actor: "job"}), &c), &pe) || pe.Err != ErrNoPurpose {
		t.Fatalf("Open with an actor and no purpose = %v", pe)
	}
	if _, err := p.OpenEach(ctx, []purposeCustomer{c}); !errors.Is(err, ErrNoPurpose) {
		t.Errorf("OpenEach without a purpose = %v", err)
	}

	opt, sealed2 := sealedPurposeCustomer(t, WithPurposeRequired(false))
	c = sealed2
	if err := opt.Open(ctx, &c); err != nil {
		t.Fatal(err)
	}
	if c.Name != "Ada Lovelace" || c.Home.City != "London" || c.Card != "••••••••••••1111" || c.Notes != sealed2.Notes {
		t.Errorf("Open without a purpose, not required: %q %q %q %q", c.Name, c.Home.City, c.Card, c.Notes)
	}

	// Without purposes: today's behaviour for types without purpose=.
	plainP := mustNew(t, kmstest.New("test:1"), memory.New())
	a := addrCustomer{ID: "ada", Name: "Ada"}
	if err := plainP.Seal(ctx, &a); err != nil {
		t.Fatal(err)
	}
	if err := plainP.Open(as("anything-at-all"), &a); err != nil || a.Name != "Ada" {
		t.Fatalf("Open on a Protector without purposes = %q, %v", a.Name, err)
	}
	req, err := New(ctx, kmstest.New("test:1"), memory.New(), WithPurposeRequired(true))
	if err != nil {
		t.Fatal(err)
	}
	defer req.Close()
	b := addrCustomer{ID: "ada", Name: "Ada"}
	if err := req.Seal(ctx, &b); err != nil {
		t.Fatal(err)
	}
	before := b
	if err := req.Open(ctx, &b); !errors.Is(err, ErrNoPurpose) || b != before {
		t.Fatalf("Open without a purpose on WithPurposeRequired(true) = %v", err)
	}
	if err := req.Open(as("audit"), &b); err != nil || b.Name != "Ada" {
		t.Fatalf("Open with a purpose on WithPurposeRequired(true) = %q, %v", b.Name, err)
	}
}

// TestPurposeUnknown: an unknown purpose in the context or in a tag is a
// *PurposeError (ErrUnknownPurpose), every time, and changes nothing; a
// Protector without purposes refuses to Open a type whose tags name some
// (it could not honour them) but Seals it.
func TestPurposeUnknown(t *testing.T) {
	p, sealed := sealedPurposeCustomer(t)
	c := sealed
	var pe *PurposeError
	err := p.Open(as("biling"), &c)
	if !errors.Is(err, ErrUnknownPurpose) || !errors.As(err, &pe) || pe.Purpose != "biling" || pe.Type != nil || !reflect.DeepEqual(c, sealed) {
		t.Fatalf("Open for an unknown purpose = %v", err)
	}

	type typo struct {
		ID   string `pii:"subject"`
		Card string `pii:"encrypt,purpose=biling"`
	}
	v := typo{ID: "ada", Card: "4111111111111111"}
	for i := 0; i < 2; i++ {
		err := p.Seal(as("billing"), &v)
		if !errors.As(err, &pe) || pe.Purpose != "biling" || pe.Field != "Card" || pe.Type != reflect.TypeFor[typo]() || v.Card != "4111111111111111" {
			t.Fatalf("Seal of a type with an undeclared purpose (try %d) = %v", i, err)
		}
		if !strings.Contains(err.Error(), "typo.Card") {
			t.Errorf("error %q does not name the field", err)
		}
	}
	if err := CheckPurposes[typo]("billing", "support"); !errors.As(err, &pe) || pe.Purpose != "biling" {
		t.Errorf("CheckPurposes = %v", err)
	}
	if err := CheckPurposes[*purposeCustomer]("billing", "support"); err != nil {
		t.Errorf("CheckPurposes of a good type = %v", err)
	}
	if err := CheckPurposes[purposeCustomer]("support"); !errors.Is(err, ErrUnknownPurpose) || !strings.Contains(err.Error(), "purposeAddress.Street") {
		t.Errorf("CheckPurposes without billing = %v, want every use reported", err)
	}
	if err := CheckPurposes[purposeCustomer]("Billing"); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("CheckPurposes of a malformed purpose = %v", err)
	}

	plainP := mustNew(t, kmstest.New("test:1"), memory.New())
	c = newPurposeCustomer("ada")
	if err := plainP.Seal(context.Background(), &c); err != nil {
		t.Fatalf("Seal on a Protector without purposes = %v", err)
	}
	before := c
	if err := plainP.Open(as("billing"), &c); !errors.Is(err, ErrUnknownPurpose) || !reflect.DeepEqual(c, before) {
		t.Fatalf("Open of a purpose-tagged type on a Protector without purposes = %v", err)
	}

	for _, opts := range [][]Option{
		{WithPurposes(Purpose{Name: "Billing"})},
		{WithPurposes()},
		{WithPurposes(Purpose{Name: "billing"}), WithPurposes(Purpose{Name: "billing"})},
		{WithPolicy(nil)},
	} {
		if _, err := New(context.Background(), kmstest.New("test:1"), memory.New(), opts...); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("New with bad purposes = %v", err)
		}
	}
}

// TestPurposeTagErrors: the grammar's bad inputs are *TagError values.
func TestPurposeTagErrors(t *testing.T) {
	type (
		maskBytes struct {
			ID string `pii:"subject"`
			X  []byte `pii:"encrypt,mask=last4"`
		}
		maskSealed struct {
			ID string        `pii:"subject"`
			X  Sealed[int64] `pii:"encrypt,mask=redact"`
		}
		maskUnknown struct {
			ID string `pii:"subject"`
			X  string `pii:"encrypt,mask=last5"`
		}
		purposeGlobal struct {
			X string `pii:"token,format=pan,scope=global,purpose=billing"`
		}
		purposeGlobalFirst struct {
			X string `pii:"token,purpose=billing,format=pan,scope=global"`
		}
		purposeBad struct {
			ID string `pii:"subject"`
			X  string `pii:"encrypt,purpose=Billing"`
		}
		purposeEmpty struct {
			ID string `pii:"subject"`
			X  string `pii:"encrypt,purpose="`
		}
		purposeTwice struct {
			ID string `pii:"subject"`
			X  string `pii:"encrypt,purpose=a|a"`
		}
		purposeEmptyAlt struct {
			ID string `pii:"subject"`
			X  string `pii:"encrypt,purpose=a||b"`
		}
		purposeOnSubject struct {
			ID string `pii:"subject,purpose=billing"`
		}
		purposeOnIndex struct {
			ID  string `pii:"subject"`
			X   string `pii:"encrypt"`
			Idx string `pii:"index=X,purpose=billing"`
		}
	)
	cases := map[string]struct {
		err    error
		reason string
	}{
		"maskBytes":          {Check[maskBytes](), "not a string kind"},
		"maskSealed":         {Check[maskSealed](), "never masked"},
		"maskUnknown":        {Check[maskUnknown](), "want last4"},
		"purposeGlobal":      {Check[purposeGlobal](), "scope=global"},
		"purposeGlobalFirst": {Check[purposeGlobalFirst](), "scope=global"},
		"purposeBad":         {Check[purposeBad](), "lowercase"},
		"purposeEmpty":       {Check[purposeEmpty](), "one or more"},
		"purposeTwice":       {Check[purposeTwice](), "twice"},
		"purposeEmptyAlt":    {Check[purposeEmptyAlt](), "lowercase"},
		"purposeOnSubject":   {Check[purposeOnSubject](), "unknown option"},
		"purposeOnIndex":     {Check[purposeOnIndex](), ""},
	}
	for name, c := range cases {
		var te *TagError
		if !errors.As(c.err, &te) || !strings.Contains(te.Reason, c.reason) {
			t.Errorf("%s: %v, want a *TagError saying %q", name, c.err, c.reason)
		}
	}
	type good struct {
		ID    string            `pii:"subject"`
		A     *string           `pii:"encrypt,mask=first1,purpose=x"`
		B     map[string]string `pii:"encrypt,deterministic,mask=email"`
		C     [2]string         `pii:"token,format=digits,mask=last4,name=c"`
		D     string            `pii:"token,format=pan,scope=global,mask=last4"`
		E     Sealed[string]    `pii:"encrypt,purpose=x|y-2|z_3"`
		F     SealedString      `pii:"encrypt,purpose=x,mask=redact"`
		Plain []byte            `pii:"encrypt,purpose=x"`
	}
	if err := Check[good](); err != nil {
		t.Errorf("Check of good purpose tags = %v", err)
	}
}

// TestPurposeSealRefusesMasked: a record opened for display and saved back
// fails with ErrMasked and changes nothing, where the field has a mask.
func TestPurposeSealRefusesMasked(t *testing.T) {
	p, sealed := sealedPurposeCustomer(t)
	c := sealed
	c.Phones = append([]string(nil), sealed.Phones...)
	if err := p.Open(as("support"), &c); err != nil {
		t.Fatal(err)
	}
	c.Name = "Ada King" // the edit the support agent made
	before := c
	before.Phones = append([]string(nil), c.Phones...)
	err := p.Seal(as("support"), &c)
	var fe *FieldError
	if !errors.Is(err, ErrMasked) || !errors.As(err, &fe) || fe.Path != "purposeCustomer.Card" || fe.Op != "seal" {
		t.Fatalf("Seal of a masked card = %v", err)
	}
	if !reflect.DeepEqual(c, before) {
		t.Fatal("a refused Seal changed the value")
	}
	// In a slice, too; and a field without a mask takes any text.
	d := newPurposeCustomer("bob")
	d.Phones = []string{"+44", "••••1234"}
	d.Name = "B••b"
	if err := p.Seal(context.Background(), &d); !errors.Is(err, ErrMasked) || d.Phones[1] != "••••1234" {
		t.Fatalf("Seal of a masked phone = %v", err)
	}
	d.Phones = nil
	if err := p.Seal(context.Background(), &d); err != nil {
		t.Fatalf("Seal of a bullet in a field without mask = %v", err)
	}
}

// TestPurposePolicy: the policy narrows per actor (support agents see
// the card's last 4, their lead the whole card), never widens what the
// tags allow, is asked once per field per call, and opens nothing when it
// panics.
func TestPurposePolicy(t *testing.T) {
	type card struct {
		ID     string `pii:"subject"`
		Holder string `pii:"encrypt"`
		Card   string `pii:"encrypt,purpose=billing|support,mask=last4"`
		Notes  string `pii:"encrypt,purpose=billing"`
	}
	var calls atomic.Int64
	var panicNow atomic.Bool
	var infos []FieldInfo
	policy := func(ctx context.Context, a Access, f FieldInfo) Decision {
		calls.Add(1)
		if panicNow.Load() {
			panic("policy bug")
		}
		if a.Actor == "recorder" {
			infos = append(infos, f)
		}
		switch {
		case a.Actor == "agent" && f.Field == "card.Card":
			return Masked
		case a.Actor == "agent" && f.Field == "card.Holder":
			return Decision(42) // out of range: refused
		case a.Actor == "agent":
			return Opened // asks to open Notes, which the tags refuse support
		}
		return Opened
	}
	ctx := context.Background()
	p, err := New(ctx, kmstest.New("test:1"), memory.New(), testPurposes, WithPolicy(policy))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	recs := make([]card, 10)
	for i := range recs {
		recs[i] = card{ID: "s" + string(rune('a'+i)), Holder: "Ada", Card: "4111111111111111", Notes: "vip"}
	}
	if err := p.SealAll(ctx, recs); err != nil {
		t.Fatal(err)
	}
	sealed := append([]card(nil), recs...)
	agent := WithAccess(ctx, Access{Actor: "agent", Purpose: "support"})
	lead := WithAccess(ctx, Access{Actor: "lead", Purpose: "support"})

	got := append([]card(nil), sealed...)
	calls.Store(0)
	if err := p.OpenAll(agent, got); err != nil {
		t.Fatal(err)
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("the policy was asked %d times for 10 records of 3 fields, want 3", n)
	}
	for i, c := range got {
		if c.Card != "••••••••••••1111" || c.Holder != sealed[i].Holder || c.Notes != sealed[i].Notes {
			t.Fatalf("agent sees %+v", c)
		}
	}
	got = append([]card(nil), sealed...)
	if err := p.OpenAll(lead, got); err != nil {
		t.Fatal(err)
	}
	if got[0].Card != "4111111111111111" || got[0].Holder != "Ada" || got[0].Notes != sealed[0].Notes {
		t.Fatalf("lead sees %+v", got[0])
	}
	// OpenEach and Matches follow the same rules.
	got = append([]card(nil), sealed...)
	if errs, err := p.OpenEach(agent, got); err != nil || errs[0] != nil || got[3].Card != "••••••••••••1111" || got[3].Holder != sealed[3].Holder {
		t.Fatalf("OpenEach as agent = %v, %v, %+v", errs, err, got[3])
	}

	one := sealed[0]
	if err := p.Open(WithAccess(ctx, Access{Actor: "recorder", Purpose: "marketing"}), &one); !errors.Is(err, ErrNoConsent) {
		t.Fatalf("Open for marketing without consent = %v", err)
	}
	want := []FieldInfo{
		{Type: reflect.TypeFor[card](), Field: "card.Holder", Name: "Holder", Tag: Opened},
		{Type: reflect.TypeFor[card](), Field: "card.Card", Name: "Card", Purposes: []string{"billing", "support"}, Mask: mask.Last4, Tag: Masked},
		{Type: reflect.TypeFor[card](), Field: "card.Notes", Name: "Notes", Purposes: []string{"billing"}, Tag: Refused},
	}
	if !reflect.DeepEqual(infos, want) {
		t.Errorf("the policy was told\n%+v\nwant\n%+v", infos, want)
	}

	panicNow.Store(true)
	one = sealed[0]
	if err := p.Open(lead, &one); !errors.Is(err, ErrPolicy) || one != sealed[0] {
		t.Fatalf("Open with a panicking policy = %v (changed: %v)", err, one != sealed[0])
	}
	got = append([]card(nil), sealed...)
	if _, err := p.OpenEach(lead, got); !errors.Is(err, ErrPolicy) || !reflect.DeepEqual(got, sealed) {
		t.Fatalf("OpenEach with a panicking policy = %v", err)
	}
	if strings.Contains(p.Open(lead, &one).Error(), "policy bug") {
		t.Error("the panic's value reached the error")
	}
}

// TestPurposeConsentAtOpen: a purpose that needs consent opens nothing of
// a subject without a grant, or after a withdrawal (at once in the process
// that withdrew); OpenEach fails only that subject's records; consent calls
// for a forgotten subject fail with ErrForgotten.
func TestPurposeConsentAtOpen(t *testing.T) {
	ctx := context.Background()
	rec := &purposeRecorder{}
	p, err := New(ctx, kmstest.New("test:1"), memory.New(), testPurposes, WithAuditor(rec))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ada, bob := newPurposeCustomer("ada"), newPurposeCustomer("bob")
	if err := p.Seal(ctx, &ada); err != nil {
		t.Fatal(err)
	}
	if err := p.Seal(ctx, &bob); err != nil {
		t.Fatal(err)
	}
	marketing := as("marketing")
	c := ada
	err = p.Open(marketing, &c)
	var pe *PurposeError
	if !errors.Is(err, ErrNoConsent) || !errors.As(err, &pe) || pe.Purpose != "marketing" || !reflect.DeepEqual(c, ada) {
		t.Fatalf("Open for marketing before any grant = %v", err)
	}
	if strings.Contains(err.Error(), "ada") {
		t.Errorf("error %q names the subject", err)
	}
	if e := rec.last(); e.Outcome != audit.OutcomeNoConsent || e.Purpose != "marketing" {
		t.Errorf("audited %+v", e)
	}
	if err := p.GrantConsent(ctx, "ada", ConsentChange{Purpose: "marketing", Actor: "web"}); err != nil {
		t.Fatal(err)
	}
	if err := p.Open(marketing, &c); err != nil || c.Name != "Ada Lovelace" {
		t.Fatalf("Open for marketing after the grant = %v", err)
	}
	e := rec.last()
	if !reflectSet(e.Opened, "purposeCustomer.Name", "purposeCustomer.Home.City") ||
		!reflectSet(e.Masked, "purposeCustomer.Card", "purposeCustomer.Email", "purposeCustomer.SSN", "purposeCustomer.Phones") ||
		!reflectSet(e.Refused, "purposeCustomer.Notes", "purposeCustomer.Born", "purposeCustomer.Home.Street") {
		t.Errorf("audit event: opened %v masked %v refused %v", e.Opened, e.Masked, e.Refused)
	}

	// OpenEach: bob has no grant; only his record fails.
	page := []purposeCustomer{ada, bob}
	errs, err := p.OpenEach(marketing, page)
	if err != nil || errs[0] != nil || !errors.Is(errs[1], ErrNoConsent) || page[0].Name != "Ada Lovelace" || !reflect.DeepEqual(page[1], bob) {
		t.Fatalf("OpenEach = %v, %v", errs, err)
	}
	if err := p.OpenAll(marketing, []purposeCustomer{ada, bob}); !errors.Is(err, ErrNoConsent) {
		t.Fatalf("OpenAll = %v", err)
	}

	// Withdrawal: refused at once in this process (the grant was cached).
	if err := p.WithdrawConsent(ctx, "ada", ConsentChange{Purpose: "marketing", Actor: "web"}); err != nil {
		t.Fatal(err)
	}
	c = ada
	if err := p.Open(marketing, &c); !errors.Is(err, ErrNoConsent) || !reflect.DeepEqual(c, ada) {
		t.Fatalf("Open for marketing after the withdrawal = %v", err)
	}
	// Purposes that need no consent are not affected.
	if err := p.Open(as("billing"), &c); err != nil {
		t.Fatal(err)
	}

	if _, err := p.Forget(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if err := p.GrantConsent(ctx, "bob", ConsentChange{Purpose: "marketing", Actor: "web"}); !errors.Is(err, ErrForgotten) {
		t.Errorf("GrantConsent for a forgotten subject = %v", err)
	}
	if err := p.WithdrawConsent(ctx, "bob", ConsentChange{Purpose: "marketing", Actor: "web"}); !errors.Is(err, ErrForgotten) {
		t.Errorf("WithdrawConsent for a forgotten subject = %v", err)
	}
}

// TestPurposeConsentNeedsConsentStore: declaring a purpose that needs
// consent on a store that keeps none fails New.
func TestPurposeConsentNeedsConsentStore(t *testing.T) {
	_, err := New(context.Background(), kmstest.New("test:1"), noConsentStore{memory.New()}, testPurposes)
	var ue *UnsupportedStoreError
	if !errors.As(err, &ue) {
		t.Fatalf("New = %v, want *UnsupportedStoreError", err)
	}
	if _, err := New(context.Background(), kmstest.New("test:1"), noConsentStore{memory.New()}, WithPurposes(Purpose{Name: "billing"})); err != nil {
		t.Fatalf("New without consent purposes = %v", err)
	}
}

// noConsentStore hides the consent methods of a store.
type noConsentStore struct{ keystore.Store }

// TestPurposeWarmPathUntouched: Open of a type without purpose= or mask=
// on a Protector without purposes or policy does no purpose work: the
// walker's flag stays down and no decisions are made.
func TestPurposeWarmPathUntouched(t *testing.T) {
	ctx := context.Background()
	p := mustNew(t, kmstest.New("test:1"), memory.New())
	c := addrCustomer{ID: "ada", Name: "Ada"}
	if err := p.Seal(ctx, &c); err != nil {
		t.Fatal(err)
	}
	w := p.getWalker()
	defer p.putWalker(w)
	if err := p.walk(as("billing"), w, "open", &c, false); err != nil {
		t.Fatal(err)
	}
	if w.pur.active || len(w.pur.decs) != 0 || p.pur != nil {
		t.Errorf("purpose work on the warm path: active %v, %d decisions", w.pur.active, len(w.pur.decs))
	}
	if !planFor(reflect.TypeFor[purposeCustomer]()).st.aclReach || planFor(reflect.TypeFor[addrCustomer]()).st.aclReach {
		t.Error("aclReach is wrong")
	}
}

// purposeRecorder keeps audit events.
type purposeRecorder struct {
	events []audit.Event
}

func (r *purposeRecorder) Audit(_ context.Context, e audit.Event) error {
	r.events = append(r.events, e)
	return nil
}

func (r *purposeRecorder) last() audit.Event { return r.events[len(r.events)-1] }

func reflectSet(got []string, want ...string) bool {
	if len(got) != len(want) {
		return false
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || g == w
		}
		if !found {
			return false
		}
	}
	return true
}

// TestPurposeMatches: Matches opens candidates under the caller's purpose:
// a purpose that sees the source masked or sealed finds nothing.
func TestPurposeMatches(t *testing.T) {
	type row struct {
		ID       string `pii:"subject"`
		Email    string `pii:"encrypt,purpose=support,mask=email"`
		EmailIdx string `pii:"index=Email,transform=trim+fold"`
	}
	ctx := context.Background()
	p, err := New(ctx, kmstest.New("test:1"), memory.New(), testPurposes)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	r := row{ID: "ada", Email: "ada@example.com"}
	if err := p.Seal(ctx, &r); err != nil {
		t.Fatal(err)
	}
	found, err := Matches(as("support"), p, []row{r}, "EmailIdx", "ADA@example.com")
	if err != nil || len(found) != 1 || found[0].Email != "ada@example.com" {
		t.Fatalf("Matches for support = %+v, %v", found, err)
	}
	found, err = Matches(as("billing"), p, []row{r}, "EmailIdx", "ada@example.com")
	if err != nil || len(found) != 0 {
		t.Fatalf("Matches for billing (masked) = %+v, %v", found, err)
	}
	if _, err := Matches(ctx, p, []row{r}, "EmailIdx", "ada@example.com"); !errors.Is(err, ErrNoPurpose) {
		t.Fatalf("Matches without a purpose = %v", err)
	}
}

// BenchmarkOpenPurposes: Open of a 3-field record without purposes (the
// warm path), with purposes declared (one field masked, one refused), and
// with a policy as well.
func BenchmarkOpenPurposes(b *testing.B) {
	type plainRec struct {
		ID                string `pii:"subject"`
		Name, Card, Notes string `pii:"encrypt"`
	}
	type purposeRec struct {
		ID    string `pii:"subject"`
		Name  string `pii:"encrypt"`
		Card  string `pii:"encrypt,purpose=billing,mask=last4"`
		Notes string `pii:"encrypt,purpose=billing"`
	}
	ctx := context.Background()
	run := func(b *testing.B, v any, reset func(), opts ...Option) {
		p, err := New(ctx, kmstest.New("test:1"), memory.New(), opts...)
		if err != nil {
			b.Fatal(err)
		}
		defer p.Close()
		if err := p.Seal(ctx, v); err != nil {
			b.Fatal(err)
		}
		reset()
		sctx := as("support")
		b.ReportAllocs()
		for b.Loop() {
			reset()
			if err := p.Open(sctx, v); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("none", func(b *testing.B) {
		var v, sealed plainRec
		v = plainRec{ID: "ada", Name: "Ada", Card: "4111111111111111", Notes: "vip"}
		first := true
		run(b, &v, func() {
			if first {
				sealed, first = v, false
			}
			v = sealed
		})
	})
	for _, c := range []struct {
		name string
		opts []Option
	}{
		{"purposes", []Option{testPurposes}},
		{"policy", []Option{testPurposes, WithPolicy(func(context.Context, Access, FieldInfo) Decision { return Opened })}},
	} {
		b.Run(c.name, func(b *testing.B) {
			var v, sealed purposeRec
			v = purposeRec{ID: "ada", Name: "Ada", Card: "4111111111111111", Notes: "vip"}
			first := true
			run(b, &v, func() {
				if first {
					sealed, first = v, false
				}
				v = sealed
			}, c.opts...)
		})
	}
}

// TestPurposeConcurrent: Opens for different purposes and actors from many
// goroutines at once, with a policy and consent, each seeing its own
// fields (run with -race).
func TestPurposeConcurrent(t *testing.T) {
	policy := func(_ context.Context, a Access, f FieldInfo) Decision {
		if a.Actor == "trainee" && f.Field == "purposeCustomer.Notes" {
			return Refused
		}
		return Opened
	}
	p, sealed := sealedPurposeCustomer(t, WithPolicy(policy))
	type want struct{ actor, purpose, card, notes string }
	cases := []want{
		{"job", "billing", "4111111111111111", sealed.Notes},
		{"agent", "support", "••••••••••••1111", "prefers mornings"},
		{"trainee", "support", "••••••••••••1111", sealed.Notes},
		{"newsletter", "marketing", "••••••••••••1111", sealed.Notes},
	}
	errc := make(chan error, 8)
	for g := 0; g < 8; g++ {
		go func() {
			for i := 0; i < 200; i++ {
				w := cases[(g+i)%len(cases)]
				c := sealed
				c.Phones = append([]string(nil), sealed.Phones...)
				if err := p.Open(WithAccess(context.Background(), Access{Actor: w.actor, Purpose: w.purpose}), &c); err != nil {
					errc <- err
					return
				}
				if c.Card != w.card || c.Notes != w.notes || c.Name != "Ada Lovelace" {
					errc <- errors.New(w.actor + " saw the wrong fields")
					return
				}
			}
			errc <- nil
		}()
	}
	for g := 0; g < 8; g++ {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}

// TestPurposeMatchesDropsCandidatesWithoutConsent: a candidate whose
// subject has not consented to the caller's purpose is not a match, like a
// forgotten one; it does not fail the whole lookup (it used to).
func TestPurposeMatchesDropsCandidatesWithoutConsent(t *testing.T) {
	type consentRow struct {
		ID       string `pii:"subject"`
		Email    string `pii:"encrypt,purpose=marketing"`
		EmailIdx string `pii:"index=Email,transform=trim+fold"`
	}
	ctx := context.Background()
	p, err := New(ctx, kmstest.New("test:1"), memory.New(), testPurposes)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	yes, no := consentRow{ID: "yes", Email: "same@example.com"}, consentRow{ID: "no", Email: "same@example.com"}
	for _, r := range []*consentRow{&yes, &no} {
		if err := p.Seal(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.GrantConsent(ctx, "yes", ConsentChange{Purpose: "marketing", Actor: "signup"}); err != nil {
		t.Fatal(err)
	}
	found, err := Matches(as("marketing"), p, []consentRow{yes, no}, "EmailIdx", "same@example.com")
	if err != nil || len(found) != 1 || found[0].ID != "yes" {
		t.Fatalf("Matches = %+v, %v; want only the subject who consented", found, err)
	}
}

// TestPurposeConsentOfForgottenSubject: Consent, like Grant and Withdraw,
// is an error for a forgotten subject rather than an empty list.
func TestPurposeConsentOfForgottenSubject(t *testing.T) {
	ctx := context.Background()
	p, err := New(ctx, kmstest.New("test:1"), memory.New(), testPurposes)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	type forgottenRow struct {
		ID   string `pii:"subject"`
		Name string `pii:"encrypt"`
	}
	r := forgottenRow{ID: "gone", Name: "G"}
	if err := p.Seal(ctx, &r); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Forget(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if got, err := p.Consent(ctx, "gone"); !errors.Is(err, ErrForgotten) {
		t.Fatalf("Consent of a forgotten subject = %v, %v; want ErrForgotten", got, err)
	}
}

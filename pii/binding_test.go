package pii_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/fieldcrypt/fieldcrypt/pii"
)

// Purchase is one record of a person: several orders share a subject, each
// has its own record identity.
type Purchase struct {
	_        struct{}          `pii:"scope=order"`
	Customer string            `pii:"subject"`
	ID       string            `pii:"record"`
	Address  string            `pii:"encrypt"`
	Note     []byte            `pii:"encrypt"`
	Email    string            `pii:"encrypt,deterministic,bind=subject"`
	Ref      string            `pii:"encrypt,deterministic,bind=record"`
	Phones   []string          `pii:"encrypt,bindindex"`
	Contacts map[string]string `pii:"encrypt,bindindex"`
	Codes    map[int]string    `pii:"encrypt,bindindex"`
	Tags     []string          `pii:"encrypt"` // elements not bound to their index
	Ship     Shipping          // inherits the order's record
}

type Shipping struct {
	Street string `pii:"encrypt"`
}

// PurchaseV1 is Purchase as it was before record binding: same scope and names.
type PurchaseV1 struct {
	_        struct{} `pii:"scope=order"`
	Customer string   `pii:"subject"`
	ID       string
	Address  string   `pii:"encrypt"`
	Phones   []string `pii:"encrypt"`
	Email    string   `pii:"encrypt,deterministic"`
}

func samplePurchase(customer, id string) Purchase {
	return Purchase{
		Customer: customer, ID: id, Address: "1 Main St " + id, Note: []byte("note " + id),
		Email: "ada@example.com", Ref: "ref-1",
		Phones:   []string{"+44 1", "+44 2"},
		Contacts: map[string]string{"home": "h " + id, "work": "w " + id},
		Codes:    map[int]string{-1: "minus", 7: "seven"},
		Tags:     []string{"a", "b"},
		Ship:     Shipping{Street: "Ship St " + id},
	}
}

func sealPurchase(t *testing.T, p *pii.Protector, o Purchase) Purchase {
	t.Helper()
	if err := p.Seal(context.Background(), &o); err != nil {
		t.Fatal(err)
	}
	return o
}

func wantOpenErr(t *testing.T, p *pii.Protector, o Purchase, what string, want error) {
	t.Helper()
	before := o.Address
	err := p.Open(context.Background(), &o)
	if !errors.Is(err, want) {
		t.Errorf("%s: Open = %v, want %v", what, err, want)
	}
	if o.Address != before {
		t.Errorf("%s: a failed Open changed the value", what)
	}
}

func TestReviewI1ValueCopiedBetweenRecordsFails(t *testing.T) {
	e := newEnv(t)
	a := sealPurchase(t, e.p, samplePurchase("ada", "order-1"))
	b := sealPurchase(t, e.p, samplePurchase("ada", "order-2"))
	if !strings.HasPrefix(a.Address, "fc2a.") || a.Note[1] != 2 || !strings.HasPrefix(a.Ref, "fc2d.") {
		t.Fatalf("record-bound values are not version 2: %.5s % x %.5s", a.Address, a.Note[:3], a.Ref)
	}
	if !strings.HasPrefix(a.Email, "fc1d.") {
		t.Errorf("bind=subject value is %.5s, want version 1", a.Email)
	}
	if a.Email != b.Email {
		t.Error("bind=subject deterministic field lost equality across records")
	}
	if a.Ref == b.Ref {
		t.Error("bind=record deterministic field is equal across records")
	}

	cases := []struct {
		what string
		move func(dst *Purchase)
	}{
		{"Address", func(d *Purchase) { d.Address = a.Address }},
		{"Note", func(d *Purchase) { d.Note = a.Note }},
		{"Ref", func(d *Purchase) { d.Ref = a.Ref }},
		{"Tags element", func(d *Purchase) { d.Tags = []string{a.Tags[0], d.Tags[1]} }},
		{"nested Ship.Street (inherits the record)", func(d *Purchase) { d.Ship.Street = a.Ship.Street }},
	}
	for _, tc := range cases {
		victim := b
		victim.Tags = append([]string(nil), b.Tags...)
		tc.move(&victim)
		wantOpenErr(t, e.p, victim, tc.what+" copied from another record", pii.ErrAuthentication)
	}

	// The record field itself is what binds: changing it fails too.
	changed := b
	changed.ID = "order-1"
	wantOpenErr(t, e.p, changed, "record field changed", pii.ErrAuthentication)

	// Unchanged records still open.
	got := b
	if err := e.p.Open(context.Background(), &got); err != nil || got.Address != "1 Main St order-2" || got.Ship.Street != "Ship St order-2" {
		t.Fatalf("Open = %v, %q", err, got.Address)
	}
}

func TestReviewI1ElementSwapWithBindIndexFails(t *testing.T) {
	e := newEnv(t)
	o := sealPurchase(t, e.p, samplePurchase("ada", "order-1"))

	swapped := o
	swapped.Phones = []string{o.Phones[1], o.Phones[0]}
	wantOpenErr(t, e.p, swapped, "slice elements swapped", pii.ErrAuthentication)

	swapped = o
	swapped.Contacts = map[string]string{"home": o.Contacts["work"], "work": o.Contacts["home"]}
	wantOpenErr(t, e.p, swapped, "map values swapped", pii.ErrAuthentication)

	swapped = o
	swapped.Codes = map[int]string{-1: o.Codes[7], 7: o.Codes[-1]}
	wantOpenErr(t, e.p, swapped, "int-keyed map values swapped", pii.ErrAuthentication)

	// Without bindindex, swapping elements is not detected (documented).
	swapped = o
	swapped.Tags = []string{o.Tags[1], o.Tags[0]}
	if err := e.p.Open(context.Background(), &swapped); err != nil || swapped.Tags[0] != "b" {
		t.Errorf("Tags without bindindex: Open = %v, %q", err, swapped.Tags)
	}
}

func TestReviewI1V1ValuesStillOpen(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	old := PurchaseV1{Customer: "ada", ID: "order-1", Address: "1 Main St", Phones: []string{"+44 1"}, Email: "ada@example.com"}
	if err := e.p.Seal(ctx, &old); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(old.Address, "fc1a.") {
		t.Fatalf("old type sealed %.5s", old.Address)
	}
	o := Purchase{Customer: "ada", ID: "order-1", Address: old.Address, Phones: old.Phones, Email: old.Email}
	got := o
	if err := e.p.Open(ctx, &got); err != nil || got.Address != "1 Main St" || got.Phones[0] != "+44 1" || got.Email != "ada@example.com" {
		t.Fatalf("version 1 values in a record-bound type: Open = %v, %q %q", err, got.Address, got.Phones)
	}
	// Re-sealing upgrades them.
	if err := e.p.Seal(ctx, &got); err != nil || !strings.HasPrefix(got.Address, "fc2a.") || !strings.HasPrefix(got.Phones[0], "fc2a.") {
		t.Fatalf("re-seal = %v, %.5s", err, got.Address)
	}
	// Once migration is complete, version 1 values are refused.
	strict := e.protector(t, pii.WithRecordBindingRequired())
	err := strict.Open(ctx, &o)
	if !errors.Is(err, pii.ErrNotRecordBound) || !errors.Is(err, pii.ErrAuthentication) {
		t.Errorf("WithRecordBindingRequired: Open of a version 1 value = %v", err)
	}
	// bind=subject fields stay version 1 and are not refused.
	onlyEmail := Purchase{Customer: "ada", ID: "order-1", Email: old.Email}
	if err := strict.Open(ctx, &onlyEmail); err != nil || onlyEmail.Email != "ada@example.com" {
		t.Errorf("bind=subject field under WithRecordBindingRequired: %v", err)
	}
	if err := strict.Open(ctx, &got); err != nil {
		t.Errorf("re-sealed record under WithRecordBindingRequired: %v", err)
	}
}

func TestReviewI1EmptyRecordRefused(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	o := samplePurchase("ada", "")
	before := o.Address
	err := e.p.Seal(ctx, &o)
	var fe *pii.FieldError
	if !errors.Is(err, pii.ErrNoRecord) || !errors.As(err, &fe) {
		t.Fatalf("Seal with an empty record = %v, want ErrNoRecord", err)
	}
	if o.Address != before {
		t.Error("a failed Seal changed the value")
	}
	if recs, _ := e.store.Scan(ctx, "", 10); len(recs) > 1 {
		t.Errorf("a refused Seal created keys: %d records", len(recs))
	}
	// Opening a record-bound value whose record was blanked is ErrNoRecord.
	sealed := sealPurchase(t, e.p, samplePurchase("ada", "order-1"))
	sealed.ID = ""
	wantOpenErr(t, e.p, sealed, "record blanked", pii.ErrNoRecord)
}

func TestRecordBindingTagErrors(t *testing.T) {
	type detNoBind struct {
		_  struct{} `pii:"scope=t1"`
		S  string   `pii:"subject"`
		R  string   `pii:"record"`
		E  string   `pii:"encrypt,deterministic"`
		Ok string   `pii:"encrypt"`
	}
	type detNoBindNested struct {
		_ struct{} `pii:"scope=t2"`
		S string   `pii:"subject"`
		R string   `pii:"record"`
		N struct {
			_ struct{} `pii:"scope=t2n"`
			E string   `pii:"encrypt,deterministic"`
		}
	}
	type bindRecordNoRecord struct {
		_ struct{} `pii:"scope=t3"`
		S string   `pii:"subject"`
		E string   `pii:"encrypt,bind=record"`
	}
	type twoRecords struct {
		_ struct{} `pii:"scope=t4"`
		S string   `pii:"subject"`
		A string   `pii:"record"`
		B string   `pii:"record"`
	}
	type recordInt struct {
		_ struct{} `pii:"scope=t5"`
		S string   `pii:"subject"`
		R int      `pii:"record"`
	}
	type bindIndexScalar struct {
		_ struct{} `pii:"scope=t6"`
		S string   `pii:"subject"`
		E string   `pii:"encrypt,bindindex"`
	}
	type bindIndexFloatKey struct {
		_ struct{}           `pii:"scope=t7"`
		S string             `pii:"subject"`
		E map[float64]string `pii:"encrypt,bindindex"`
	}
	type badBind struct {
		_ struct{} `pii:"scope=t8"`
		S string   `pii:"subject"`
		E string   `pii:"encrypt,bind=row"`
	}
	type bindOnToken struct {
		_ struct{} `pii:"scope=t9"`
		S string   `pii:"subject"`
		E string   `pii:"token,format=ssn,bindindex"`
	}
	for name, check := range map[string]func() error{
		"deterministic without bind=":        pii.Check[detNoBind],
		"nested deterministic without bind=": pii.Check[detNoBindNested],
		"bind=record without a record":       pii.Check[bindRecordNoRecord],
		"two records":                        pii.Check[twoRecords],
		"record on an int":                   pii.Check[recordInt],
		"bindindex on a string":              pii.Check[bindIndexScalar],
		"bindindex with float keys":          pii.Check[bindIndexFloatKey],
		"bind=row":                           pii.Check[badBind],
		"bindindex on a token":               pii.Check[bindOnToken],
	} {
		var te *pii.TagError
		if err := check(); !errors.As(err, &te) {
			t.Errorf("%s: Check = %v, want a TagError", name, err)
		}
	}
	if err := pii.Check[Purchase](); err != nil {
		t.Errorf("Check[Purchase] = %v", err)
	}
}

// Records promoted from embedded structs bind like their own.
func TestRecordPromotedFromEmbeddedStruct(t *testing.T) {
	type Meta struct {
		Owner string `pii:"subject"`
		Row   string `pii:"record"`
	}
	type Row struct {
		_ struct{} `pii:"scope=embedded_row"`
		Meta
		V string `pii:"encrypt"`
	}
	e := newEnv(t)
	ctx := context.Background()
	a, b := Row{Meta: Meta{"ada", "1"}, V: "x"}, Row{Meta: Meta{"ada", "2"}, V: "y"}
	if err := e.p.Seal(ctx, &a); err != nil {
		t.Fatal(err)
	}
	if err := e.p.Seal(ctx, &b); err != nil {
		t.Fatal(err)
	}
	b.V = a.V
	if err := e.p.Open(ctx, &b); !errors.Is(err, pii.ErrAuthentication) {
		t.Errorf("value copied between records with a promoted record field: %v", err)
	}
}

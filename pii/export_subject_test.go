package pii_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fieldcrypt/fieldcrypt/keystore"
	"github.com/fieldcrypt/fieldcrypt/keystore/memory"
	"github.com/fieldcrypt/fieldcrypt/kms/kmstest"
	"github.com/fieldcrypt/fieldcrypt/pii"
)

type EXOrder struct {
	Customer string `pii:"subject"`
	Number   string `pii:"record"`
	Ship     DMAddress
	Items    []string `pii:"encrypt"`
}

type EXNoRights struct{ keystore.Store }

func sealedCustomer(t *testing.T, p *pii.Protector, id string) DMCustomerV1 {
	t.Helper()
	c := DMCustomerV1{ID: id, Order: "o-1", Email: id + "@example.com", SSN: "123-45-6789", Card: "4111111111111111",
		Born: pii.NewSealed(time.Date(1815, 12, 10, 0, 0, 0, 0, time.UTC)), Home: DMAddress{Street: "1 St James's Sq", Postcode: "SW1Y 4JU", Country: "UK"},
		Phones: []string{"+44 20 7946 0000", "+44 20 7946 0001"}, Notes: map[string]string{"b": "likes engines", "a": "mathematician"},
		Phone: "unprotected", DMAudit: &DMAudit{CreatedBy: "support-7", FileName: "x.txt"}}
	if err := p.Seal(context.Background(), &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestExportSubject(t *testing.T) {
	ctx := context.Background()
	var logs bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	defer slog.SetDefault(old)

	p, err := pii.New(ctx, kmstest.New("test:1"), memory.New())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ada := sealedCustomer(t, p, "ada")
	orders := []*EXOrder{{Customer: "ada", Number: "o-1", Ship: DMAddress{Street: "Ockham Park"}, Items: []string{"Difference Engine"}}, nil}
	if err := p.SealAll(ctx, orders); err != nil {
		t.Fatal(err)
	}
	if err := p.GrantConsent(ctx, "ada", pii.ConsentChange{Purpose: "newsletter", Actor: "web"}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.PlaceHold(ctx, "ada", pii.HoldInfo{Reference: "CASE-1", By: "legal"}); err != nil {
		t.Fatal(err)
	}
	before := ada
	beforeOrder := *orders[0]

	exp, err := p.ExportSubject(ctx, "ada", &ada, orders)
	if err != nil {
		t.Fatal(err)
	}
	// The caller's records are untouched: still sealed.
	if !reflect.DeepEqual(ada, before) || !reflect.DeepEqual(*orders[0], beforeOrder) || !strings.HasPrefix(ada.Email, "fc") || ada.Home.Street == "1 St James's Sq" {
		t.Error("ExportSubject changed the caller's records")
	}
	if len(exp.Records) != 2 || exp.Records[0].Type != "pii_test.DMCustomerV1" || exp.Records[1].Type != "pii_test.EXOrder" {
		t.Fatalf("records %+v", exp.Records)
	}
	got := map[string]any{}
	for _, r := range exp.Records {
		for _, f := range r.Fields {
			got[f.Path] = f.Value
			if f.Purposes == nil {
				t.Errorf("%s: purposes null", f.Path)
			}
		}
	}
	for path, want := range map[string]any{
		"DMCustomerV1.ID": "ada", "DMCustomerV1.Email": "ada@example.com", "DMCustomerV1.SSN": "123-45-6789",
		"DMCustomerV1.Card": "4111111111111111", "DMCustomerV1.Born": time.Date(1815, 12, 10, 0, 0, 0, 0, time.UTC),
		"DMCustomerV1.Home.Street": "1 St James's Sq", "DMCustomerV1.Phones[1]": "+44 20 7946 0001",
		`DMCustomerV1.Notes["a"]`: "mathematician", "DMCustomerV1.CreatedBy": "support-7",
		"EXOrder.Ship.Street": "Ockham Park", "EXOrder.Items[0]": "Difference Engine", "EXOrder.Number": "o-1",
	} {
		if !reflect.DeepEqual(got[path], want) {
			t.Errorf("%s = %v, want %v", path, got[path], want)
		}
	}
	for _, absent := range []string{"DMCustomerV1.EmailIdx", "DMCustomerV1.CardMAC", "DMCustomerV1.Phone", "DMCustomerV1.Home.Country"} {
		if _, ok := got[absent]; ok {
			t.Errorf("%s exported", absent)
		}
	}
	js, err := json.Marshal(exp)
	if err != nil {
		t.Fatal(err)
	}
	// No ciphertext, index term or MAC anywhere in the export.
	for _, secret := range []string{ada.Email, ada.EmailIdx, ada.CardMAC, ada.Card, ada.Home.Street, "fc1", "fc2", "m1."} {
		if secret != "" && bytes.Contains(js, []byte(secret)) {
			t.Errorf("export contains %q", secret)
		}
	}
	for _, want := range []string{`"consent":["newsletter"]`, `"reference":"CASE-1"`, `"indexed_by":["DMCustomerV1.EmailIdx"]`, `"token_format":"pan"`, `"unavailable":[]`, `"version":1`} {
		if !bytes.Contains(js, []byte(want)) {
			t.Errorf("export lacks %s:\n%s", want, js)
		}
	}
	if logs.Len() != 0 {
		t.Errorf("ExportSubject logged: %s", logs.String())
	}

	// A record of another subject is refused before anything is opened,
	// and the error names neither subject.
	grace := sealedCustomer(t, p, "grace")
	_, err = p.ExportSubject(ctx, "ada", &ada, grace)
	var mm *pii.SubjectMismatchError
	if !errors.Is(err, pii.ErrOtherSubject) || !errors.As(err, &mm) || mm.Record != 1 || mm.Path != "DMCustomerV1.ID" ||
		strings.Contains(err.Error(), "grace") || strings.Contains(err.Error(), "ada") {
		t.Errorf("another subject's record: %v", err)
	}
	orders[0].Ship = DMAddress{}
	type EXNested struct{ Orders []EXOrder }
	_, err = p.ExportSubject(ctx, "ada", EXNested{Orders: []EXOrder{{Customer: "ada", Number: "1"}, {Customer: "grace", Number: "2"}}})
	if !errors.As(err, &mm) || mm.Path != "EXNested.Orders[1].Customer" {
		t.Errorf("nested record of another subject: %v", err)
	}
	for _, bad := range []any{nil, 3, (*EXOrder)(nil)} {
		if _, err := p.ExportSubject(ctx, "ada", bad); !errors.Is(err, pii.ErrInvalidArgument) {
			t.Errorf("ExportSubject(%v): %v", bad, err)
		}
	}
	if _, err := p.ExportSubject(ctx, "", &ada); !errors.Is(err, pii.ErrInvalidArgument) {
		t.Errorf("empty subject: %v", err)
	}

	// After Forget the records no longer open.
	if err := p.ReleaseHold(ctx, "ada", pii.HoldInfo{Reference: "CASE-1", By: "legal"}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Forget(ctx, "ada"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.ExportSubject(ctx, "ada", &ada); !errors.Is(err, pii.ErrForgotten) {
		t.Errorf("export after Forget: %v", err)
	}
}

// TestExportSubjectStoreWithoutRights: a store that keeps no rights
// records names them as unavailable.
func TestExportSubjectStoreWithoutRights(t *testing.T) {
	ctx := context.Background()
	p, err := pii.New(ctx, kmstest.New("test:1"), EXNoRights{memory.New()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	o := EXOrder{Customer: "ada", Number: "1", Items: []string{"x"}}
	if err := p.Seal(ctx, &o); err != nil {
		t.Fatal(err)
	}
	exp, err := p.ExportSubject(ctx, "ada", o)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(exp.Rights.Unavailable, ",") != "consent,holds,erasure_requests" || exp.Records[0].Fields[4].Value != "x" {
		t.Errorf("export %+v", exp)
	}
}

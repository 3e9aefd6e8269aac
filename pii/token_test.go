package pii_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/fieldcrypt/fieldcrypt/pii"
	"github.com/fieldcrypt/fieldcrypt/tokenize"
)

type Payment struct {
	ID      string   `pii:"subject"`
	Card    string   `pii:"token,format=pan"`
	SSN     string   `pii:"token,format=ssn,name=tax_id"`
	Phone   *string  `pii:"token,format=phone"`
	Email   string   `pii:"token,format=email"`
	Code    string   `pii:"token,format=alnum"`
	Account string   `pii:"token,format=digits"`
	Cards   []string `pii:"token,format=pan"`
	Join    string   `pii:"token,format=pan,scope=global"` // joins across people
	Note    string   `pii:"encrypt"`
}

func samplePayment(id string) Payment {
	return Payment{
		ID: id, Card: "4111 1111 1111 1111", SSN: "078-05-1120", Phone: ptr("+442079460000"),
		Email: "ada.lovelace@example.com", Code: "AB-1234-xyz", Account: "0012345678",
		Cards: []string{"5500000000000004", ""}, Join: "4111111111111111", Note: "paid",
	}
}

func TestTokensRoundTripThroughSealOpen(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	orig := samplePayment("payer-1")
	p := orig
	p.Phone = ptr(*orig.Phone)
	p.Cards = append([]string(nil), orig.Cards...)
	if err := e.p.Seal(ctx, &p); err != nil {
		t.Fatal(err)
	}
	if p.Card == orig.Card || !strings.HasPrefix(p.Card, "4") || !strings.HasSuffix(p.Card, "1111") || p.Card[4] != ' ' {
		t.Errorf("pan token %q does not keep its shape", p.Card)
	}
	if tokenize.LuhnValid(strings.ReplaceAll(p.Card, " ", "")) {
		t.Error("pan token passes Luhn")
	}
	if p.SSN[3] != '-' || p.SSN == orig.SSN || !strings.HasPrefix(*p.Phone, "+44") || !strings.HasSuffix(p.Email, "@example.com") {
		t.Errorf("tokens = %q %q %q", p.SSN, *p.Phone, p.Email)
	}
	if p.Cards[1] != "" || !strings.HasPrefix(p.Note, "fc1a.") {
		t.Errorf("empty token element or encrypted neighbour wrong: %q %q", p.Cards[1], p.Note[:5])
	}
	if err := e.p.Open(ctx, &p); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p, orig) {
		t.Errorf("Open(Seal(p)) = %+v, want %+v", p, orig)
	}
}

func TestTokensAreDeterministicPerSubjectAndGlobalAcross(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a1, a2, b := samplePayment("a"), samplePayment("a"), samplePayment("b")
	for _, p := range []*Payment{&a1, &a2, &b} {
		if err := e.p.Seal(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if a1.Card != a2.Card {
		t.Error("same subject, same value: tokens differ")
	}
	if a1.Card == b.Card {
		t.Error("subject-scoped tokens of two people are equal: keys are not per subject")
	}
	if a1.Join != b.Join {
		t.Error("scope=global tokens of one value differ across people: they cannot join")
	}
	// The tweak is the stable name: the same value in Card and Cards[0]
	// (both named by their own field) gives different tokens.
	c := samplePayment("a")
	c.Cards[0] = c.Card
	e.p.Seal(ctx, &c)
	if c.Cards[0] == c.Card {
		t.Error("two fields gave the same token: the field name is not in the tweak")
	}
}

func TestForgetShredsSubjectTokensNotGlobalOnes(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	p := samplePayment("leaver")
	if err := e.p.Seal(ctx, &p); err != nil {
		t.Fatal(err)
	}
	if _, err := e.p.Forget(ctx, "leaver"); err != nil {
		t.Fatal(err)
	}
	x := p
	if err := e.p.Open(ctx, &x); !errors.Is(err, pii.ErrForgotten) {
		t.Errorf("Open of tokens after Forget = %v, want ErrForgotten", err)
	}
	// What survives is what SurvivingFields reports.
	surv, err := pii.SurvivingFields[Payment]()
	if err != nil || len(surv) != 1 || surv[0] != "Payment.Join" {
		t.Errorf("SurvivingFields = %v, %v; want [Payment.Join]", surv, err)
	}
	type GlobalOnly struct {
		Join string `pii:"token,format=pan,scope=global"`
	}
	g := GlobalOnly{Join: p.Join}
	if err := e.p.Open(ctx, &g); err != nil || g.Join != "4111111111111111" {
		t.Errorf("global token after Forget: %q, %v (documented to survive)", g.Join, err)
	}
	if surv, _ := pii.SurvivingFields[Customer](); surv != nil {
		t.Errorf("SurvivingFields[Customer] = %v, want none", surv)
	}
}

func TestTokenInvalidValueIsAFieldError(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	p := samplePayment("bad")
	p.Card = "4111111111111112" // fails Luhn: not a card
	before := p
	err := e.p.Seal(ctx, &p)
	var fe *pii.FieldError
	if !errors.As(err, &fe) || fe.Path != "Payment.Card" || !errors.Is(err, tokenize.ErrInvalidValue) {
		t.Fatalf("Seal with an invalid card = %v", err)
	}
	if strings.Contains(err.Error(), "411111111111") {
		t.Errorf("error %q echoes the value", err)
	}
	if !reflect.DeepEqual(p, before) {
		t.Error("failed Seal changed the value")
	}
}

func TestTokensInMigrationMode(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	m := e.protector(t, pii.WithMigrationMode())
	type Cards struct {
		ID   string `pii:"subject"`
		Card string `pii:"token,format=pan"`
	}
	legacy := Cards{ID: "m", Card: "4111111111111111"}
	if err := m.Open(ctx, &legacy); err != nil || legacy.Card != "4111111111111111" {
		t.Errorf("migration Open of a plaintext card = %q, %v; want it left alone", legacy.Card, err)
	}
	sealed := Cards{ID: "m", Card: "4111111111111111"}
	e.p.Seal(ctx, &sealed)
	if err := m.Open(ctx, &sealed); err != nil || sealed.Card != "4111111111111111" {
		t.Errorf("migration Open of a pan token = %q, %v", sealed.Card, err)
	}
	type SSNs struct {
		ID  string `pii:"subject"`
		SSN string `pii:"token,format=ssn"`
	}
	s := SSNs{ID: "m", SSN: "078-05-1120"}
	if err := m.Open(ctx, &s); !errors.Is(err, pii.ErrAmbiguousToken) {
		t.Errorf("migration Open of an ssn field = %v, want ErrAmbiguousToken", err)
	}
}

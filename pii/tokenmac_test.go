package pii_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/fieldcrypt/fieldcrypt/pii"
)

// Card holds tokens with and without integrity.
type Card struct {
	_        struct{} `pii:"scope=card"`
	Owner    string   `pii:"subject"`
	SSN      string   `pii:"token,format=ssn"`
	SSNMAC   string   `pii:"tokenmac=SSN"`
	Join     string   `pii:"token,format=pan,scope=global"`
	JoinMAC  string   `pii:"tokenmac=Join"`
	Loose    string   `pii:"token,format=digits"` // no MAC: confidentiality only
	LooseJob string   `pii:"token,format=pan,scope=global"`
}

func sampleCard(owner, pan string) Card {
	return Card{Owner: owner, SSN: "078-05-1120", Join: pan, Loose: "0012345678", LooseJob: pan}
}

func sealCard(t *testing.T, p *pii.Protector, c Card) Card {
	t.Helper()
	if err := p.Seal(context.Background(), &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// alterDigit changes the last digit of a token.
func alterDigit(s string) string {
	b := []byte(s)
	i := len(b) - 1
	b[i] = '0' + (b[i]-'0'+1)%10
	return string(b)
}

func TestReviewM5AlteredTokenWithMACFails(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := sealCard(t, e.p, sampleCard("ada", "4111111111111111"))
	if !strings.HasPrefix(c.SSNMAC, "m1.") || len(c.SSNMAC) != 25 || c.SSN == "078-05-1120" {
		t.Fatalf("Seal wrote SSN %q, MAC %q", c.SSN, c.SSNMAC)
	}
	for what, mutate := range map[string]func(*Card){
		"altered SSN token":  func(c *Card) { c.SSN = alterDigit(c.SSN) },
		"missing MAC":        func(c *Card) { c.SSNMAC = "" },
		"altered MAC":        func(c *Card) { c.SSNMAC = "m1.A" + strings.Repeat("B", 21) },
		"MAC of another fld": func(c *Card) { c.SSNMAC = c.JoinMAC },
	} {
		bad := c
		mutate(&bad)
		before := bad
		err := e.p.Open(ctx, &bad)
		if !errors.Is(err, pii.ErrAuthentication) {
			t.Errorf("%s: Open = %v, want ErrAuthentication", what, err)
		}
		if bad != before {
			t.Errorf("%s: a failed Open changed the value", what)
		}
	}
	got := c
	if err := e.p.Open(ctx, &got); err != nil || got.SSN != "078-05-1120" || got.Join != "4111111111111111" {
		t.Fatalf("Open of the untouched card = %v, %q %q", err, got.SSN, got.Join)
	}
}

func TestReviewM5CopiedGlobalTokenWithMACFails(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	attacker := sealCard(t, e.p, sampleCard("mallory", "5500000000000004"))
	victim := sealCard(t, e.p, sampleCard("ada", "4111111111111111"))

	// With its MAC: the MAC binds the subject, so the copy fails.
	forged := victim
	forged.Join, forged.JoinMAC = attacker.Join, attacker.JoinMAC
	if err := e.p.Open(ctx, &forged); !errors.Is(err, pii.ErrAuthentication) {
		t.Errorf("another person's global token and MAC: Open = %v, want ErrAuthentication", err)
	}

	// Without a MAC, the documented behaviour: the token opens to the
	// other person's value, with no error. UnauthenticatedFields says so.
	forged = victim
	forged.LooseJob = attacker.LooseJob
	if err := e.p.Open(ctx, &forged); err != nil || forged.LooseJob != "5500000000000004" {
		t.Errorf("global token without MAC: Open = %v, %q (documented: opens to the other value)", err, forged.LooseJob)
	}
	forged = victim
	forged.Loose = alterDigit(victim.Loose)
	if err := e.p.Open(ctx, &forged); err != nil || forged.Loose == "0012345678" {
		t.Errorf("altered token without MAC: Open = %v, %q (documented: another plausible value)", err, forged.Loose)
	}
	got, err := pii.UnauthenticatedFields[Card]()
	if want := []string{"Card.Loose", "Card.LooseJob"}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("UnauthenticatedFields = %v, %v; want %v", got, err, want)
	}
}

// A MAC'd token is bound to the record in reach.
func TestTokenMACBindsRecord(t *testing.T) {
	type Row struct {
		_      struct{} `pii:"scope=token_row"`
		Owner  string   `pii:"subject"`
		ID     string   `pii:"record"`
		SSN    string   `pii:"token,format=ssn"`
		SSNMAC string   `pii:"tokenmac=SSN"`
	}
	e := newEnv(t)
	ctx := context.Background()
	a := Row{Owner: "ada", ID: "1", SSN: "078-05-1120"}
	b := Row{Owner: "ada", ID: "2", SSN: "219-09-9999"}
	for _, r := range []*Row{&a, &b} {
		if err := e.p.Seal(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	b.SSN, b.SSNMAC = a.SSN, a.SSNMAC
	if err := e.p.Open(ctx, &b); !errors.Is(err, pii.ErrAuthentication) {
		t.Errorf("token and MAC copied between records: Open = %v", err)
	}
	a.ID = ""
	if err := e.p.Open(ctx, &a); !errors.Is(err, pii.ErrNoRecord) {
		t.Errorf("MAC'd token with the record blanked: Open = %v", err)
	}
}

// The v2 tweak differs from v1: a field that gains a tokenmac does not
// silently read its old tokens.
func TestTokenMACAddedToExistingTokensFailsLoudly(t *testing.T) {
	type Old struct {
		_     struct{} `pii:"scope=card_migration"`
		Owner string   `pii:"subject"`
		SSN   string   `pii:"token,format=ssn"`
	}
	type New struct {
		_      struct{} `pii:"scope=card_migration"`
		Owner  string   `pii:"subject"`
		SSN    string   `pii:"token,format=ssn"`
		SSNMAC string   `pii:"tokenmac=SSN"`
	}
	e := newEnv(t)
	ctx := context.Background()
	o := Old{Owner: "ada", SSN: "078-05-1120"}
	if err := e.p.Seal(ctx, &o); err != nil {
		t.Fatal(err)
	}
	n := New{Owner: "ada", SSN: o.SSN}
	if err := e.p.Open(ctx, &n); !errors.Is(err, pii.ErrAuthentication) {
		t.Errorf("old token in a tokenmac field: Open = %v, want ErrAuthentication", err)
	}
	// Migration: open with the old type, seal with the new.
	if err := e.p.Open(ctx, &o); err != nil {
		t.Fatal(err)
	}
	n = New{Owner: "ada", SSN: o.SSN}
	if err := e.p.Seal(ctx, &n); err != nil {
		t.Fatal(err)
	}
	if err := e.p.Open(ctx, &n); err != nil || n.SSN != "078-05-1120" {
		t.Errorf("migrated: Open = %v, %q", err, n.SSN)
	}
}

func TestTokenMACTagErrors(t *testing.T) {
	type noTarget struct {
		_   struct{} `pii:"scope=m1"`
		S   string   `pii:"subject"`
		MAC string   `pii:"tokenmac=Missing"`
	}
	type notToken struct {
		_   struct{} `pii:"scope=m2"`
		S   string   `pii:"subject"`
		E   string   `pii:"encrypt"`
		MAC string   `pii:"tokenmac=E"`
	}
	type sliceToken struct {
		_   struct{} `pii:"scope=m3"`
		S   string   `pii:"subject"`
		T   []string `pii:"token,format=ssn"`
		MAC string   `pii:"tokenmac=T"`
	}
	type twoMACs struct {
		_ struct{} `pii:"scope=m4"`
		S string   `pii:"subject"`
		T string   `pii:"token,format=ssn"`
		A string   `pii:"tokenmac=T"`
		B string   `pii:"tokenmac=T"`
	}
	type macNotString struct {
		_ struct{} `pii:"scope=m5"`
		S string   `pii:"subject"`
		T string   `pii:"token,format=ssn"`
		A []byte   `pii:"tokenmac=T"`
	}
	type macOption struct {
		_ struct{} `pii:"scope=m6"`
		S string   `pii:"subject"`
		T string   `pii:"token,format=ssn"`
		A string   `pii:"tokenmac=T,name=x"`
	}
	for name, check := range map[string]func() error{
		"no target":      pii.Check[noTarget],
		"not a token":    pii.Check[notToken],
		"slice token":    pii.Check[sliceToken],
		"two MACs":       pii.Check[twoMACs],
		"MAC not string": pii.Check[macNotString],
		"MAC option":     pii.Check[macOption],
	} {
		var te *pii.TagError
		if err := check(); !errors.As(err, &te) {
			t.Errorf("%s: Check = %v, want a TagError", name, err)
		}
	}
}

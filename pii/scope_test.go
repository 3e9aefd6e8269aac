package pii_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/fieldcrypt/fieldcrypt/pii"
)

// TestReviewL4TwoTypesOneNameRefused: the scope in the associated data is a
// type's name, so a second type with the name of one already in use (here
// a function-local Customer beside the package's Customer) would open its
// ciphertexts. It is refused unless it declares its own scope.
func TestReviewL4TwoTypesOneNameRefused(t *testing.T) {
	if err := pii.Check[Customer](); err != nil {
		t.Fatal(err)
	}
	type Customer struct {
		ID   string `pii:"subject"`
		Name string `pii:"encrypt"`
	}
	var te *pii.TagError
	err := pii.Check[Customer]()
	if !errors.As(err, &te) || !strings.Contains(err.Error(), "scope=") {
		t.Fatalf("Check of a second type named Customer = %v, want a TagError asking for scope=", err)
	}
	// Refused at Seal and Open too, before anything is touched.
	e := newEnv(t)
	c := Customer{ID: "ada", Name: "Ada Lovelace"}
	if err := e.p.Seal(context.Background(), &c); !errors.As(err, &te) || c.Name != "Ada Lovelace" {
		t.Errorf("Seal = %v, %q", err, c.Name)
	}

	// With a scope of its own, it is accepted, and its ciphertexts do not
	// open as the package's Customer.
	type Client struct {
		_    struct{} `pii:"scope=client"`
		ID   string   `pii:"subject"`
		Name string   `pii:"encrypt"`
	}
	cl := Client{ID: "ada", Name: "Ada Lovelace"}
	if err := e.p.Seal(context.Background(), &cl); err != nil {
		t.Fatal(err)
	}
	pkg := sampleCustomer("ada")
	if err := e.p.Seal(context.Background(), &pkg); err != nil {
		t.Fatal(err)
	}
	pkg.Name = cl.Name
	if err := e.p.Open(context.Background(), &pkg); !errors.Is(err, pii.ErrAuthentication) {
		t.Errorf("a Client ciphertext in a Customer: Open = %v", err)
	}
}

func TestReviewL4UnnamedStructNeedsScope(t *testing.T) {
	var te *pii.TagError
	if err := pii.Check[struct {
		ID   string `pii:"subject"`
		Name string `pii:"encrypt"`
	}](); !errors.As(err, &te) {
		t.Errorf("unnamed struct with protected fields: Check = %v, want a TagError", err)
	}
	type Outer struct {
		_    struct{} `pii:"scope=l4_outer"`
		ID   string   `pii:"subject"`
		Home struct {
			Street string `pii:"encrypt"`
		}
	}
	if err := pii.Check[Outer](); !errors.As(err, &te) {
		t.Errorf("nested unnamed struct with protected fields: Check = %v, want a TagError", err)
	}
	if err := pii.Check[struct {
		_    struct{} `pii:"scope=l4_unnamed"`
		ID   string   `pii:"subject"`
		Name string   `pii:"encrypt"`
	}](); err != nil {
		t.Errorf("unnamed struct with scope=: Check = %v", err)
	}
	// Unnamed structs without protected fields are none of fieldcrypt's
	// business.
	if err := pii.Check[struct{ A, B string }](); err != nil {
		t.Errorf("unnamed struct without protected fields: %v", err)
	}
}

package pii_test

import (
	"context"
	"fmt"
	"log"

	"github.com/fieldcrypt/fieldcrypt/pii"
)

type ClubMember struct {
	ID string `pii:"subject"`
	// A 4-digit PIN is far too small a domain for FF1: it goes to the vault.
	PIN string `pii:"token,format=digits,vault"`
	// Dates have no FF1 format at all; convergent: one date, one token.
	Born string `pii:"token,format=date,vault,convergent"`
}

func ExampleLookupToken() {
	ctx := context.Background()
	p := newExampleProtector()

	m := ClubMember{ID: "member-7", PIN: "0042", Born: "1815-12-10"}
	if err := p.Seal(ctx, &m); err != nil {
		log.Fatal(err)
	}
	fmt.Println("PIN token has 4 digits:", len(m.PIN) == 4 && m.PIN != "0042")

	// Find the stored token of a value, to query a column of tokens.
	tok, err := pii.LookupToken[ClubMember](ctx, p, "member-7", "Born", "1815-12-10")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("lookup finds the sealed token:", tok == m.Born)

	if err := p.Open(ctx, &m); err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.PIN, m.Born)

	plan, _ := pii.TokenPlan[ClubMember]()
	for _, f := range plan {
		fmt.Printf("%s: %s\n", f.Path, f.Vaulted)
	}
	// Output:
	// PIN token has 4 digits: true
	// lookup finds the sealed token: true
	// 0042 1815-12-10
	// ClubMember.PIN: values of 1 to 5 digits
	// ClubMember.Born: every value
}

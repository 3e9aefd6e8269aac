package pii_test

import (
	"context"
	"fmt"
	"log"
	"slices"

	"github.com/fieldcrypt/fieldcrypt/pii"
)

type Member struct {
	ID       string `pii:"subject"`
	Email    string `pii:"encrypt"`
	EmailIdx string `pii:"index=Email,transform=trim+fold,bits=16"` // filled by Seal
}

// Find a member by email, although the column is encrypted: Seal fills
// EmailIdx with a blind-index term; a lookup asks the database for the
// query's terms (WHERE email_idx = ANY($1)) and Matches drops the false
// positives.
func ExampleIndexTerms() {
	ctx := context.Background()
	p := newExampleProtector()

	var table []Member // stands in for a database table
	for i, email := range []string{"ada@example.com", "grace@example.com", "Ada@Example.COM "} {
		m := Member{ID: fmt.Sprintf("member-%d", i), Email: email}
		if err := p.Seal(ctx, &m); err != nil {
			log.Fatal(err)
		}
		table = append(table, m)
	}

	terms, err := pii.IndexTerms[Member](ctx, p, "EmailIdx", "ADA@example.com")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("terms:", len(terms), "(one per live index key version)")

	var candidates []Member // SELECT ... WHERE email_idx = ANY($1)
	for _, m := range table {
		if slices.Contains(terms, m.EmailIdx) {
			candidates = append(candidates, m)
		}
	}
	found, err := pii.Matches(ctx, p, candidates, "EmailIdx", "ADA@example.com")
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range found {
		fmt.Printf("%s %q\n", m.ID, m.Email)
	}
	// Output:
	// terms: 1 (one per live index key version)
	// member-0 "ada@example.com"
	// member-2 "Ada@Example.COM "
}

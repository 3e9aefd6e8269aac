package pii_test

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/fieldcrypt/fieldcrypt/blindindex"
	"github.com/fieldcrypt/fieldcrypt/pii"
)

type SearchPerson struct {
	ID        string `pii:"subject"`
	Email     string `pii:"encrypt"`
	EmailIdx  string `pii:"index=Email,transform=trim+fold"`
	DomainIdx string `pii:"index=Email,transform=trim+email-domain,bits=8,name=domain"`
	LastName  string `pii:"encrypt"`
	BirthDate string `pii:"encrypt,name=dob"`
	NameYear  []byte `pii:"index=LastName+BirthDate,transform=nfkc+trim+fold|first4,bits=24,name=name_year"`
	Card      string `pii:"token,format=pan"`
	CardLast4 string `pii:"index=Card,transform=digits+last4,bits=12,name=last4"`
	MyEmail   string `pii:"index=Email,transform=trim+fold,scope=subject,name=my_email"`
}

func samplePerson(id, email string) SearchPerson {
	return SearchPerson{ID: id, Email: email, LastName: "Lovelace", BirthDate: "1815-12-10", Card: "4111111111111111"}
}

func sealedPerson(t *testing.T, p *pii.Protector, v SearchPerson) SearchPerson {
	t.Helper()
	if err := p.Seal(context.Background(), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestIndexRoundTrip(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	c := sealedPerson(t, e.p, samplePerson("ada", "Ada@Example.com"))
	if !strings.HasPrefix(c.Email, "fc1a.") {
		t.Fatalf("Email not sealed: %q", c.Email)
	}
	for name, term := range map[string]string{"EmailIdx": c.EmailIdx, "DomainIdx": c.DomainIdx, "CardLast4": c.CardLast4, "MyEmail": c.MyEmail} {
		if v, err := pii.IndexTermVersion(term); err != nil || v != 1 {
			t.Errorf("%s = %q: version %d, %v; want a v1 term", name, term, v, err)
		}
	}
	if len(c.EmailIdx) != len("v1:")+4 || len(c.DomainIdx) != len("v1:")+2 || len(c.CardLast4) != len("v1:")+4 {
		t.Errorf("term lengths do not follow bits: %q %q %q", c.EmailIdx, c.DomainIdx, c.CardLast4)
	}
	if len(c.NameYear) != 4+3 {
		t.Errorf("binary compound term is %d bytes, want 7", len(c.NameYear))
	}
	// Equal under the transform: the same term; the query likewise.
	d := sealedPerson(t, e.p, samplePerson("bob", "  ada@EXAMPLE.com "))
	if d.EmailIdx != c.EmailIdx || d.DomainIdx != c.DomainIdx {
		t.Error("values equal under trim+fold got different terms")
	}
	if d.MyEmail == c.MyEmail {
		t.Error("a subject-scoped index gave two subjects the same term")
	}
	terms, err := pii.IndexTerms[SearchPerson](ctx, e.p, "EmailIdx", "ADA@example.com")
	if err != nil || !slices.Equal(terms, []string{c.EmailIdx}) {
		t.Fatalf("IndexTerms = %q, %v; want [%q]", terms, err, c.EmailIdx)
	}
	terms, err = pii.IndexTerms[*SearchPerson](ctx, e.p, "domain", "someone@example.COM")
	if err != nil || !slices.Equal(terms, []string{c.DomainIdx}) {
		t.Fatalf("IndexTerms(domain) = %q, %v", terms, err)
	}
	bterms, err := pii.IndexTermsBytes[SearchPerson](ctx, e.p, "name_year", "LOVELACE", "1815-01-01")
	if err != nil || len(bterms) != 1 || !bytes.Equal(bterms[0], c.NameYear) {
		t.Fatalf("IndexTermsBytes(name_year) = %x, %v; want [%x]", bterms, err, c.NameYear)
	}
	if other, _ := pii.IndexTermsBytes[SearchPerson](ctx, e.p, "name_year", "Lovelace", "1816-12-10"); bytes.Equal(other[0], c.NameYear) {
		t.Error("another year gave the same compound term")
	}
	terms, err = pii.IndexTerms[SearchPerson](ctx, e.p, "last4", "1111")
	if err != nil || !slices.Equal(terms, []string{c.CardLast4}) {
		t.Fatalf("IndexTerms(last4) = %q, %v", terms, err)
	}
	my, err := pii.SubjectIndexTerms[SearchPerson](ctx, e.p, "ada", "my_email", "ada@example.com")
	if err != nil || !slices.Equal(my, []string{c.MyEmail}) {
		t.Fatalf("SubjectIndexTerms = %q, %v", my, err)
	}
	// Open leaves index fields alone.
	before := c
	if err := e.p.Open(ctx, &c); err != nil {
		t.Fatal(err)
	}
	if c.Email != "Ada@Example.com" || c.EmailIdx != before.EmailIdx || !bytes.Equal(c.NameYear, before.NameYear) || c.MyEmail != before.MyEmail {
		t.Errorf("Open changed an index field or failed to open: %+v", c)
	}
	// Matches keeps the true matches.
	cands := []SearchPerson{before, d, sealedPerson(t, e.p, samplePerson("eve", "eve@example.org"))}
	got, err := pii.Matches(ctx, e.p, cands, "EmailIdx", "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "ada" || got[1].ID != "bob" || got[0].Email != "Ada@Example.com" {
		t.Fatalf("Matches = %+v", got)
	}
	if cands[2].Email != "eve@example.org" {
		t.Error("Matches did not open the candidates in place")
	}
}

var _, _, _ = errors.Is, reflect.DeepEqual, blindindex.DefaultBits

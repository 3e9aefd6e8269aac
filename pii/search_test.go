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

// Every transform step, through tags: values equal under the transform get
// one term, others another; and the query agrees with Seal.
type SearchTransforms struct {
	ID      string `pii:"subject"`
	Text    string `pii:"encrypt"`
	Email   string `pii:"encrypt,name=mail"`
	NFC     string `pii:"index=Text,transform=nfc,bits=32"`
	NFKC    string `pii:"index=Text,transform=nfkc,bits=32"`
	Trim    string `pii:"index=Text,transform=trim,bits=32"`
	Fold    string `pii:"index=Text,transform=fold,bits=32"`
	Digits  string `pii:"index=Text,transform=digits,bits=32"`
	First3  string `pii:"index=Text,transform=first3,bits=32"`
	Last4   string `pii:"index=Text,transform=last4,bits=32"`
	Ident   string `pii:"index=Text,bits=32"`
	Local   string `pii:"index=Email,transform=email-local+fold,bits=32"`
	Domain  string `pii:"index=Email,transform=email-domain,bits=32"`
	SlowIdx string `pii:"index=Text,transform=trim,bits=32,slow=m64+t1"`
}

func TestIndexEveryTransformThroughTags(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	cases := []struct {
		index      string
		a, same    string // equal under the transform
		other      string
		emailField bool
	}{
		{"NFC", "e\u0301", "\u00e9", "e", false},
		{"NFKC", "\uff21\uff22", "AB", "ab", false},
		{"Trim", " ab\t", "ab", "a b", false},
		{"Fold", "Straße", "STRASSE", "strase", false},
		{"Digits", "+1 (555) 010-9999", "15550109999", "15550109998", false},
		{"First3", "Lovelace", "Lov", "Low", false},
		{"Last4", "4111 1111 1111 1234", "x1234", "1235", false},
		{"Ident", "Ab", "Ab", "ab", false},
		{"Local", "Ada.L@example.com", "ada.l@other.org", "ada@example.com", true},
		{"Domain", "ada@Bücher.Example", "bob@xn--bcher-kva.example", "ada@example.com", true},
		{"SlowIdx", " slow ", "slow", "fast", false},
	}
	for _, c := range cases {
		t.Run(c.index, func(t *testing.T) {
			term := func(v string) string {
				r := SearchTransforms{ID: "t", Text: "x", Email: "x@example.com"}
				if c.emailField {
					r.Email = v
				} else {
					r.Text = v
				}
				if err := e.p.Seal(ctx, &r); err != nil {
					t.Fatal(err)
				}
				return reflect.ValueOf(r).FieldByName(c.index).String()
			}
			a, same, other := term(c.a), term(c.same), term(c.other)
			if a != same {
				t.Errorf("%q and %q: terms %s and %s differ", c.a, c.same, a, same)
			}
			if a == other {
				t.Errorf("%q and %q share a 32-bit term", c.a, c.other)
			}
			q, err := pii.IndexTerms[SearchTransforms](ctx, e.p, c.index, c.same)
			if err != nil || !slices.Equal(q, []string{a}) {
				t.Errorf("IndexTerms = %q, %v; want [%s]", q, err, a)
			}
		})
	}
}

func TestIndexQueryErrors(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	secret := "very-secret@example.com"
	var ie *pii.IndexError
	_, err := pii.IndexTerms[SearchPerson](ctx, e.p, "Nope", secret)
	if !errors.Is(err, pii.ErrUnknownIndex) || !errors.As(err, &ie) || ie.Index != "Nope" || ie.Type != "SearchPerson" {
		t.Errorf("unknown index: %v", err)
	}
	// An index is found by its name=, not by its Go field name.
	if _, err := pii.IndexTerms[SearchPerson](ctx, e.p, "DomainIdx", secret); !errors.Is(err, pii.ErrUnknownIndex) {
		t.Errorf("Go name of a renamed index: %v", err)
	}
	for _, vals := range [][]string{nil, {secret, secret}} {
		if _, err := pii.IndexTerms[SearchPerson](ctx, e.p, "EmailIdx", vals...); !errors.Is(err, blindindex.ErrArity) || !errors.As(err, &ie) {
			t.Errorf("%d values for a simple index: %v", len(vals), err)
		}
	}
	if _, err := pii.IndexTermsBytes[SearchPerson](ctx, e.p, "name_year", secret); !errors.Is(err, blindindex.ErrArity) {
		t.Errorf("1 value for a compound index: %v", err)
	}
	if _, err := pii.Matches(ctx, e.p, []SearchPerson{}, "name_year", secret); !errors.Is(err, blindindex.ErrArity) {
		t.Errorf("Matches with 1 value for a compound index: %v", err)
	}
	if _, err := pii.Matches(ctx, e.p, []SearchPerson{}, "nope", secret); !errors.Is(err, pii.ErrUnknownIndex) {
		t.Errorf("Matches with an unknown index: %v", err)
	}
	if _, err := pii.IndexTerms[SearchPerson](ctx, e.p, "my_email", secret); !errors.Is(err, pii.ErrIndexScope) {
		t.Errorf("IndexTerms of a subject index: %v", err)
	}
	if _, err := pii.SubjectIndexTerms[SearchPerson](ctx, e.p, "ada", "EmailIdx", secret); !errors.Is(err, pii.ErrIndexScope) {
		t.Errorf("SubjectIndexTerms of a global index: %v", err)
	}
	notEmail := "very-secret-not-an-email"
	_, err = pii.IndexTerms[SearchPerson](ctx, e.p, "domain", notEmail)
	if !errors.Is(err, blindindex.ErrNotEmail) || !errors.As(err, &ie) {
		t.Errorf("refused query value: %v", err)
	}
	if _, err := pii.IndexTerms[int](ctx, e.p, "x"); !errors.Is(err, pii.ErrInvalidArgument) {
		t.Errorf("IndexTerms of a non-struct: %v", err)
	}
	for _, err := range []error{err} {
		if err != nil && (strings.Contains(err.Error(), "very-secret") || strings.Contains(err.Error(), "example.com")) {
			t.Errorf("error holds the value searched for: %v", err)
		}
	}
}

// A value the transform refuses fails Seal with a FieldError naming the
// index field, without the value, and changes nothing.
func TestIndexSealRefusedValueChangesNothing(t *testing.T) {
	e := newEnv(t)
	in := samplePerson("ada", "very-secret-not-an-email")
	in.EmailIdx = "stale"
	c := in
	err := e.p.Seal(context.Background(), &c)
	var fe *pii.FieldError
	if !errors.As(err, &fe) || fe.Path != "SearchPerson.DomainIdx" || fe.Op != "seal" || !errors.Is(err, blindindex.ErrNotEmail) {
		t.Fatalf("Seal = %v; want a FieldError for SearchPerson.DomainIdx wrapping ErrNotEmail", err)
	}
	if strings.Contains(err.Error(), "very-secret") {
		t.Errorf("error holds the value: %v", err)
	}
	if !reflect.DeepEqual(c, in) {
		t.Errorf("failed Seal changed the struct: %+v", c)
	}
	// Sealing a sealed struct again is still refused.
	ok := sealedPerson(t, e.p, samplePerson("ada", "ada@example.com"))
	again := ok
	if err := e.p.Seal(context.Background(), &again); !errors.Is(err, pii.ErrAlreadySealed) || !reflect.DeepEqual(again, ok) {
		t.Errorf("second Seal = %v", err)
	}
}

type SearchEmpty struct {
	ID       string `pii:"subject"`
	Email    string `pii:"encrypt"`
	Last     string `pii:"encrypt"`
	First    string `pii:"encrypt"`
	EmailIdx string `pii:"index=Email,transform=trim+fold"`
	NameIdx  []byte `pii:"index=Last+First,transform=fold"`
}

func TestIndexEmptySources(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	r := SearchEmpty{ID: "a", EmailIdx: "stale", NameIdx: []byte("stale")}
	if err := e.p.Seal(ctx, &r); err != nil {
		t.Fatal(err)
	}
	if r.EmailIdx != "" || r.NameIdx != nil {
		t.Errorf("empty sources: index fields %q %q, want empty", r.EmailIdx, r.NameIdx)
	}
	// One source of a compound index empty: the index is kept.
	r = SearchEmpty{ID: "a", Last: "Lovelace"}
	if err := e.p.Seal(ctx, &r); err != nil {
		t.Fatal(err)
	}
	q, err := pii.IndexTermsBytes[SearchEmpty](ctx, e.p, "NameIdx", "LOVELACE", "")
	if err != nil || len(q) != 1 || !bytes.Equal(q[0], r.NameIdx) {
		t.Errorf("compound with one empty source: %x vs %x, %v", r.NameIdx, q, err)
	}
	// WithEncryptEmpty: empty values are indexed too (hiding emptiness).
	pe := e.protector(t, pii.WithEncryptEmpty())
	r = SearchEmpty{ID: "a"}
	if err := pe.Seal(ctx, &r); err != nil {
		t.Fatal(err)
	}
	q2, err := pii.IndexTerms[SearchEmpty](ctx, pe, "EmailIdx", "  ")
	if err != nil || r.EmailIdx == "" || !slices.Equal(q2, []string{r.EmailIdx}) {
		t.Errorf("WithEncryptEmpty: %q vs %q, %v", r.EmailIdx, q2, err)
	}
}

type searchEmbedded struct {
	Inner string `pii:"encrypt"`
}

func TestIndexTagErrors(t *testing.T) {
	type (
		Missing struct {
			ID  string `pii:"subject"`
			Idx string `pii:"index=Nope"`
		}
		NotProtected struct {
			ID    string `pii:"subject"`
			Plain string
			Idx   string `pii:"index=Plain"`
		}
		WrongKind struct {
			ID    string `pii:"subject"`
			Email string `pii:"encrypt"`
			Idx   int    `pii:"index=Email"`
		}
		PtrKind struct {
			ID    string  `pii:"subject"`
			Email string  `pii:"encrypt"`
			Idx   *string `pii:"index=Email"`
		}
		BitsLow struct {
			ID    string `pii:"subject"`
			Email string `pii:"encrypt"`
			Idx   string `pii:"index=Email,bits=4"`
		}
		BitsHigh struct {
			ID    string `pii:"subject"`
			Email string `pii:"encrypt"`
			Idx   string `pii:"index=Email,bits=200"`
		}
		BadTransform struct {
			ID    string `pii:"subject"`
			Email string `pii:"encrypt"`
			Idx   string `pii:"index=Email,transform=fold+trim"`
		}
		UnknownStep struct {
			ID    string `pii:"subject"`
			Email string `pii:"encrypt"`
			Idx   string `pii:"index=Email,transform=soundex"`
		}
		BytesTransform struct {
			ID   string `pii:"subject"`
			Blob []byte `pii:"encrypt"`
			Idx  string `pii:"index=Blob,transform=fold"`
		}
		TokenEmailStep struct {
			ID   string `pii:"subject"`
			Card string `pii:"token,format=pan"`
			Idx  string `pii:"index=Card,transform=email-domain"`
		}
		SliceSource struct {
			ID     string   `pii:"subject"`
			Emails []string `pii:"encrypt"`
			Idx    string   `pii:"index=Emails"`
		}
		DupName struct {
			ID    string `pii:"subject"`
			Email string `pii:"encrypt"`
			A     string `pii:"index=Email,name=x"`
			B     string `pii:"index=Email,transform=fold,name=x"`
		}
		WithEncrypt struct {
			ID    string `pii:"subject"`
			Email string `pii:"encrypt,index=Idx"`
			Idx   string
		}
		WithOtherVerb struct {
			ID    string `pii:"subject"`
			Email string `pii:"encrypt"`
			Idx   string `pii:"index=Email,encrypt"`
		}
		TransformCount struct {
			ID  string `pii:"subject"`
			A   string `pii:"encrypt"`
			B   string `pii:"encrypt"`
			Idx string `pii:"index=A+B,transform=fold|trim|digits"`
		}
		NestedSource struct {
			ID   string `pii:"subject"`
			Home struct {
				Street string `pii:"encrypt"`
			}
			Idx string `pii:"index=Home.Street"`
		}
		Promoted struct {
			ID string `pii:"subject"`
			searchEmbedded
			Idx string `pii:"index=Inner"`
		}
		SubjectNoSubject struct {
			Card string `pii:"token,format=pan,scope=global"`
			Idx  string `pii:"index=Card,transform=last4,scope=subject"`
		}
		BadScope struct {
			ID    string `pii:"subject"`
			Email string `pii:"encrypt"`
			Idx   string `pii:"index=Email,scope=world"`
		}
		BadSlow struct {
			ID    string `pii:"subject"`
			Email string `pii:"encrypt"`
			Idx   string `pii:"index=Email,slow=m1"`
		}
		EmptySlow struct {
			ID    string `pii:"subject"`
			Email string `pii:"encrypt"`
			Idx   string `pii:"index=Email,slow="`
		}
		UnknownOption struct {
			ID    string `pii:"subject"`
			Email string `pii:"encrypt"`
			Idx   string `pii:"index=Email,deterministic"`
		}
		SameSourceTwice struct {
			ID    string `pii:"subject"`
			Email string `pii:"encrypt"`
			Idx   string `pii:"index=Email+Email"`
		}
		Unexported struct {
			ID    string `pii:"subject"`
			Email string `pii:"encrypt"`
			idx   string `pii:"index=Email"`
		}
	)
	_ = Unexported{}.idx
	cases := []struct {
		check  func() error
		field  string
		reason string
	}{
		{pii.Check[Missing], "Idx", "no field Nope"},
		{pii.Check[NotProtected], "Idx", "not protected"},
		{pii.Check[WrongKind], "Idx", "must be a string or []byte"},
		{pii.Check[PtrKind], "Idx", "must be a string or []byte"},
		{pii.Check[BitsLow], "Idx", "bits"},
		{pii.Check[BitsHigh], "Idx", "bits"},
		{pii.Check[BadTransform], "Idx", "trim"},
		{pii.Check[UnknownStep], "Idx", "soundex"},
		{pii.Check[BytesTransform], "Idx", "takes no transform"},
		{pii.Check[TokenEmailStep], "Idx", "email-local and email-domain do not apply"},
		{pii.Check[SliceSource], "Idx", "single string or []byte"},
		{pii.Check[DupName], "B", `index name "x" is already used`},
		{pii.Check[WithEncrypt], "Email", "index= is a tag of its own"},
		{pii.Check[WithOtherVerb], "Idx", `unknown option "encrypt"`},
		{pii.Check[TransformCount], "Idx", "3 transforms for 2 fields"},
		{pii.Check[NestedSource], "Idx", "Go names"},
		{pii.Check[Promoted], "Idx", "promoted"},
		{pii.Check[SubjectNoSubject], "Idx", "scope=subject index has no subject"},
		{pii.Check[BadScope], "Idx", "global or subject"},
		{pii.Check[BadSlow], "Idx", "m1"},
		{pii.Check[EmptySlow], "Idx", "slow= needs parameters"},
		{pii.Check[UnknownOption], "Idx", `unknown option "deterministic"`},
		{pii.Check[SameSourceTwice], "Idx", "twice"},
		{pii.Check[Unexported], "idx", "unexported"},
	}
	for _, c := range cases {
		err := c.check()
		var te *pii.TagError
		if !errors.As(err, &te) || te.Field != c.field || !strings.Contains(te.Reason, c.reason) {
			t.Errorf("want a TagError on %s containing %q; got %v", c.field, c.reason, err)
		}
		// The same error every time (cached).
		if err2 := c.check(); err2 == nil || err2.Error() != err.Error() {
			t.Errorf("second Check differs: %v", err2)
		}
	}
	// Several indexes of one source, and an index in an embedded struct
	// with its sources, are fine.
	if err := pii.Check[SearchPerson](); err != nil {
		t.Error(err)
	}
}

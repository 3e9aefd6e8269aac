package pii_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fieldcrypt/fieldcrypt/pii"
)

// Types with bad tags, one problem each.
type (
	unknownVerb struct {
		ID string `pii:"subject"`
		X  string `pii:"encrpyt"`
	}
	unknownOption struct {
		ID string `pii:"subject"`
		X  string `pii:"encrypt,fast"`
	}
	duplicateOption struct {
		ID string `pii:"subject"`
		X  string `pii:"encrypt,deterministic,deterministic"`
	}
	emptyTag struct {
		ID string `pii:"subject"`
		X  string `pii:""`
	}
	badName struct {
		ID string `pii:"subject"`
		X  string `pii:"encrypt,name=has space"`
	}
	emptyName struct {
		ID string `pii:"subject"`
		X  string `pii:"encrypt,name="`
	}
	unexportedTagged struct {
		ID string `pii:"subject"`
		x  string `pii:"encrypt"`
	}
	encryptInt struct {
		ID  string `pii:"subject"`
		Age int    `pii:"encrypt"`
	}
	encryptTime struct {
		ID   string    `pii:"subject"`
		Born time.Time `pii:"encrypt"`
	}
	encryptStruct struct {
		ID   string  `pii:"subject"`
		Home Address `pii:"encrypt"`
	}
	encryptByteArray struct {
		ID  string   `pii:"subject"`
		Key [16]byte `pii:"encrypt"`
	}
	encryptInterface struct {
		ID  string `pii:"subject"`
		Any any    `pii:"encrypt"`
	}
	encryptIntSlice struct {
		ID  string `pii:"subject"`
		Ids []int  `pii:"encrypt"`
	}
	duplicateName struct {
		ID string `pii:"subject"`
		A  string `pii:"encrypt,name=email"`
		B  string `pii:"encrypt,name=email"`
	}
	nameClashesWithField struct {
		ID    string `pii:"subject"`
		Email string `pii:"encrypt"`
		Other string `pii:"encrypt,name=Email"`
	}
	nonStringSubject struct {
		ID   int    `pii:"subject"`
		Name string `pii:"encrypt"`
	}
	twoSubjects struct {
		ID    string `pii:"subject"`
		Other string `pii:"subject"`
	}
	noSubject struct {
		Name string `pii:"encrypt"`
	}
	noSubjectNested struct {
		Home Address
	}
	subjectOption struct {
		ID string `pii:"subject,deterministic"`
	}
	scopeOnField struct {
		ID string `pii:"subject,scope=x"`
	}
	scopeTwice struct {
		_  struct{} `pii:"scope=a"`
		_  struct{} `pii:"scope=b"`
		ID string   `pii:"subject"`
	}
	blankWithEncrypt struct {
		_  string `pii:"encrypt"`
		ID string `pii:"subject"`
	}
	tokenNoFormat struct {
		ID  string `pii:"subject"`
		SSN string `pii:"token"`
	}
	tokenBadFormat struct {
		ID  string `pii:"subject"`
		SSN string `pii:"token,format=iban"`
	}
	tokenBytes struct {
		ID  string `pii:"subject"`
		SSN []byte `pii:"token,format=ssn"`
	}
	tokenDeterministic struct {
		ID  string `pii:"subject"`
		SSN string `pii:"token,format=ssn,deterministic"`
	}
	tokenBadScope struct {
		ID  string `pii:"subject"`
		SSN string `pii:"token,format=ssn,scope=team"`
	}
	tokenInt struct {
		ID  string `pii:"subject"`
		SSN int    `pii:"token,format=ssn"`
	}
	tokenNoSubject struct {
		SSN string `pii:"token,format=ssn"`
	}
	hiddenNested struct {
		ID   string `pii:"subject"`
		home Address
	}
	badNested struct {
		ID    string `pii:"subject"`
		Inner encryptIntOnly
	}
	encryptIntOnly struct {
		Zip int `pii:"encrypt"`
	}
	promotedSubjectClash struct {
		ID string `pii:"subject"`
		Base
	}
	promotedNameClash struct {
		Base
		Email string `pii:"encrypt"`
	}
)

func TestBadTags(t *testing.T) {
	cases := []struct {
		v             any
		field, reason string
	}{
		{unknownVerb{}, "X", "unknown pii tag"},
		{unknownOption{}, "X", "unknown option"},
		{duplicateOption{}, "X", "twice"},
		{emptyTag{}, "X", "empty pii tag"},
		{badName{}, "X", "name="},
		{emptyName{}, "X", "name="},
		{unexportedTagged{}, "x", "unexported"},
		{encryptInt{}, "Age", "cannot hold a ciphertext"},
		{encryptTime{}, "Born", "time.Time"},
		{encryptStruct{}, "Home", "struct"},
		{encryptByteArray{}, "Key", "fixed length"},
		{encryptInterface{}, "Any", "cannot hold a ciphertext"},
		{encryptIntSlice{}, "Ids", "cannot hold a ciphertext"},
		{duplicateName{}, "B", "already used"},
		{nameClashesWithField{}, "Other", "already used"},
		{nonStringSubject{}, "ID", "must be a string"},
		{twoSubjects{}, "Other", "two subject fields"},
		{noSubject{}, "Name", "no subject"},
		{noSubjectNested{}, "Street", "no subject"},
		{subjectOption{}, "ID", "unknown option"},
		{scopeOnField{}, "ID", "unknown option"},
		{scopeTwice{}, "_", "scope declared twice"},
		{blankWithEncrypt{}, "_", "blank field"},
		{tokenNoFormat{}, "SSN", "token needs format="},
		{tokenBadFormat{}, "SSN", "unknown format"},
		{tokenBytes{}, "SSN", "tokens are text"},
		{tokenDeterministic{}, "SSN", "unknown option"},
		{tokenBadScope{}, "SSN", "unknown option"},
		{tokenInt{}, "SSN", "cannot hold"},
		{tokenNoSubject{}, "SSN", "no subject"},
		{hiddenNested{}, "home", "unexported field holds protected fields"},
		{badNested{}, "Zip", "cannot hold a ciphertext"},
		{promotedSubjectClash{}, "Base", "two subject fields"},
		{promotedNameClash{}, "Email", "already used"},
	}
	e := newEnv(t)
	for _, tc := range cases {
		typ := reflect.TypeOf(tc.v)
		t.Run(typ.Name(), func(t *testing.T) {
			ptr := reflect.New(typ).Interface()
			var errs []error
			for range 2 { // the second use must fail the same way (cached)
				errs = append(errs, e.p.Seal(context.Background(), ptr))
			}
			var te *pii.TagError
			if !errors.As(errs[0], &te) {
				t.Fatalf("Seal = %v, want a *TagError", errs[0])
			}
			if te.Field != tc.field || !strings.Contains(te.Reason, tc.reason) {
				t.Errorf("TagError{Type: %v, Field: %q, Reason: %q}, want field %q and a reason containing %q", te.Type, te.Field, te.Reason, tc.field, tc.reason)
			}
			if te.Type == nil || !strings.Contains(te.Error(), te.Type.String()) {
				t.Errorf("error %q does not name the type", te)
			}
			if errs[1] == nil || errs[1].Error() != errs[0].Error() {
				t.Errorf("second use failed differently: %v vs %v", errs[1], errs[0])
			}
		})
	}
}

func TestCheck(t *testing.T) {
	if err := pii.Check[Customer](); err != nil {
		t.Errorf("Check[Customer] = %v", err)
	}
	if err := pii.Check[*Order](); err != nil {
		t.Errorf("Check[*Order] = %v", err)
	}
	var te *pii.TagError
	if err := pii.Check[encryptInt](); !errors.As(err, &te) {
		t.Errorf("Check[encryptInt] = %v, want *TagError", err)
	}
	if err := pii.Check[string](); !errors.Is(err, pii.ErrInvalidArgument) {
		t.Errorf("Check[string] = %v, want ErrInvalidArgument", err)
	}
	// A nested type used alone has no subject in reach, but is fine nested.
	if err := pii.Check[Address](); !errors.As(err, &te) {
		t.Errorf("Check[Address] = %v, want *TagError (no subject)", err)
	}
}

type renamedScope struct {
	_    struct{} `pii:"scope=customer"`
	ID   string   `pii:"subject"`
	Name string   `pii:"encrypt"`
}

type renamedScopeV2 struct {
	_        struct{} `pii:"scope=customer"`
	ID       string   `pii:"subject"`
	FullName string   `pii:"encrypt,name=Name"`
}

// TestRenamingWithScopeAndName shows the promise of scope= and name=: a type
// and a field can be renamed without stranding data.
func TestRenamingWithScopeAndName(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	v1 := renamedScope{ID: "r", Name: "Ada"}
	if err := e.p.Seal(ctx, &v1); err != nil {
		t.Fatal(err)
	}
	v2 := renamedScopeV2{ID: "r", FullName: v1.Name}
	if err := e.p.Open(ctx, &v2); err != nil || v2.FullName != "Ada" {
		t.Fatalf("renamed type and field: Open = %q, %v", v2.FullName, err)
	}
}

// Recursive types through slices and maps plan without looping.
type Tree struct {
	ID       string `pii:"subject"`
	Label    string `pii:"encrypt"`
	Children []Tree
	ByName   map[string]*Tree
}

func TestRecursiveTypes(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tr := Tree{ID: "t", Label: "root", Children: []Tree{{ID: "t", Label: "kid", ByName: map[string]*Tree{"g": {ID: "t", Label: "grandkid"}}}}}
	if err := e.p.Seal(ctx, &tr); err != nil {
		t.Fatal(err)
	}
	if !isSealed(tr.Children[0].ByName["g"].Label) {
		t.Error("deep value not sealed")
	}
	if err := e.p.Open(ctx, &tr); err != nil || tr.Children[0].ByName["g"].Label != "grandkid" {
		t.Fatalf("Open = %v", err)
	}
}

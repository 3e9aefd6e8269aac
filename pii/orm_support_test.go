package pii_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/fieldcrypt/fieldcrypt/pii"
)

type wfAddress struct {
	Street string `pii:"encrypt"`
	City   string
}

type wfBase struct {
	ID   string `pii:"subject"`
	Note string `pii:"encrypt"`
}

type wfModel struct {
	wfBase
	Team     string
	Email    string `pii:"encrypt"`
	EmailIdx string `pii:"index=Email,name=email"`
	SSN      string `pii:"token,format=ssn"`
	SSNMAC   string `pii:"tokenmac=SSN"`
	Born     pii.Sealed[time.Time]
	Home     wfAddress
	Plain    wfAddress `pii:"-"`
	Count    int
}

func TestWrittenFields(t *testing.T) {
	got, err := pii.WrittenFields(reflect.TypeFor[*wfModel]())
	if err != nil {
		t.Fatal(err)
	}
	want := []pii.WrittenField{
		{Path: []int{0, 1}},              // wfBase.Note, promoted
		{Path: []int{2}},                 // Email
		{Path: []int{3}, Index: "email"}, // EmailIdx
		{Path: []int{4}},                 // SSN
		{Path: []int{5}},                 // SSNMAC
		{Path: []int{6}},                 // Born
		{Path: []int{7}},                 // Home, as a whole
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("WrittenFields = %+v, want %+v", got, want)
	}
	if _, err := pii.WrittenFields(reflect.TypeFor[int]()); !errors.Is(err, pii.ErrInvalidArgument) {
		t.Fatalf("WrittenFields(int) = %v, want ErrInvalidArgument", err)
	}
	type bad struct {
		X string `pii:"encrypt"` // no subject
	}
	if err, cerr := func() error { _, err := pii.WrittenFields(reflect.TypeFor[bad]()); return err }(), pii.Check[bad](); err.Error() != cerr.Error() {
		t.Fatalf("WrittenFields(bad) = %v, Check = %v", err, cerr)
	}
}

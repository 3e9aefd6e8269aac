package pii_test

import (
	"fmt"

	"github.com/fieldcrypt/fieldcrypt/pii"
)

func ExampleUnauthenticatedFields() {
	type Invoice struct {
		Customer string `pii:"subject"`
		Number   string `pii:"record"` // binds encrypted fields to this invoice
		Address  string `pii:"encrypt"`
		Card     string `pii:"token,format=pan"`
		CardMAC  string `pii:"tokenmac=Card"` // Open checks Card against it
		TaxID    string `pii:"token,format=ssn"`
	}
	fields, err := pii.UnauthenticatedFields[Invoice]()
	fmt.Println(fields, err)
	// Output: [Invoice.TaxID] <nil>
}

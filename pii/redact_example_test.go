package pii_test

import (
	"log/slog"
	"os"

	"github.com/fieldcrypt/fieldcrypt/pii"
)

func ExampleNewRedactingHandler() {
	type Contact struct {
		Kind   string
		Number string `pii:"encrypt"`
	}
	type Admission struct {
		ID     string `pii:"subject"`
		Name   string `pii:"encrypt"`
		Phones []Contact
		Ward   int
	}
	noTime := func(groups []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey && len(groups) == 0 {
			return slog.Attr{}
		}
		return a
	}
	base := slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{ReplaceAttr: noTime})
	logger := slog.New(pii.NewRedactingHandler(base))

	p := Admission{ID: "p-1", Name: "Grace Hopper", Phones: []Contact{{Kind: "mobile", Number: "+1 555 0100"}}, Ward: 4}
	logger.Info("admitted", "patient", p)
	logger.Info("ward list", "patients", map[string]*Admission{"p-1": &p}, "count", 1)
	// Output:
	// {"level":"INFO","msg":"admitted","patient":{"ID":"p-1","Name":"[redacted]","Phones":{"0":{"Kind":"mobile","Number":"[redacted]"}},"Ward":4}}
	// {"level":"INFO","msg":"ward list","patients":{"p-1":{"ID":"p-1","Name":"[redacted]","Phones":{"0":{"Kind":"mobile","Number":"[redacted]"}},"Ward":4}},"count":1}
}

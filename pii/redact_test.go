package pii_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/fieldcrypt/fieldcrypt/pii"
)

type LoggedCustomer struct {
	Customer
}

func (c LoggedCustomer) LogValue() slog.Value { return pii.LogValue(c.Customer) }

func TestLogValueRedactsProtectedFields(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	c := sampleCustomer("cust-log")
	log.Info("saved", "customer", LoggedCustomer{c})

	// Sealed values must not leak either: they are ciphertext, but a log is
	// no place for them.
	e := newEnv(t)
	sealed := deepCopy(c)
	if err := e.p.Seal(context.Background(), &sealed); err != nil {
		t.Fatal(err)
	}
	log.Info("sealed", "customer", LoggedCustomer{sealed})
	out := buf.String()

	for _, secret := range []string{"Ada Lovelace", "ada@example.com", "prefers email", "Countess", "A. A. Lovelace",
		"St James", "SW1Y", "7700 900123", "7946 0001", "yes", "fc1a.", "fc1d."} {
		if strings.Contains(out, secret) {
			t.Errorf("log contains %q:\n%s", secret, out)
		}
	}
	for _, shown := range []string{`"ID":"cust-log"`, `"City":"London"`, `"Tier":3`, `"Skipped":"left alone"`, `"Name":"[redacted]"`, `"Phones":{"0":{"Kind":"mobile","Number":"[redacted]"},"1":{"Kind":"home","Number":"[redacted]"}}`, `"ByKind":{"fax":{"Kind":"fax","Number":"[redacted]"}}`} {
		if !strings.Contains(out, shown) {
			t.Errorf("log lacks %s:\n%s", shown, out)
		}
	}
}

func TestLogValueOddInputs(t *testing.T) {
	var nilCustomer *Customer
	if v := pii.LogValue(nilCustomer); v.Any() != nil {
		t.Errorf("nil pointer logs as %v", v)
	}
	if v := pii.LogValue("a string"); v.String() != pii.Redacted {
		t.Errorf("a non-struct logs as %v", v)
	}
	type bad struct {
		ID  string `pii:"subject"`
		Age int    `pii:"encrypt"`
	}
	if v := pii.LogValue(bad{ID: "x", Age: 40}); v.String() != pii.Redacted {
		t.Errorf("a type with bad tags logs as %v", v)
	}
}

package pii_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"os"
	"strings"

	"github.com/fieldcrypt/fieldcrypt/keystore/memory"
	"github.com/fieldcrypt/fieldcrypt/kms/local"
	"github.com/fieldcrypt/fieldcrypt/pii"
)

type Patient struct {
	ID        string `pii:"subject"`
	Name      string `pii:"encrypt"`
	Email     string `pii:"encrypt,deterministic"`
	Diagnosis []byte `pii:"encrypt"`
	Ward      string // not personal: stays readable
}

// newExampleProtector uses an in-memory KEK and key store. A real program
// uses kms/vault (or kms/local for development) and keystore/sqlite.
func newExampleProtector() *pii.Protector {
	kek, err := local.Generate()
	if err != nil {
		log.Fatal(err)
	}
	p, err := pii.New(context.Background(), kek, memory.New())
	if err != nil {
		log.Fatal(err)
	}
	return p
}

func Example() {
	ctx := context.Background()
	p := newExampleProtector()

	rec := Patient{ID: "patient-17", Name: "Ada Lovelace", Email: "ada@example.com", Diagnosis: []byte("fine"), Ward: "B"}
	if err := p.Seal(ctx, &rec); err != nil {
		log.Fatal(err)
	}
	fmt.Println("sealed name:", rec.Name[:5]+"…", "ward:", rec.Ward)

	if err := p.Open(ctx, &rec); err != nil {
		log.Fatal(err)
	}
	fmt.Println("opened name:", rec.Name)
	// Output:
	// sealed name: fc1a.… ward: B
	// opened name: Ada Lovelace
}

func ExampleProtector_Forget() {
	ctx := context.Background()
	p := newExampleProtector()

	rec := Patient{ID: "patient-17", Name: "Ada Lovelace"}
	if err := p.Seal(ctx, &rec); err != nil {
		log.Fatal(err)
	}
	receipt, err := p.Forget(ctx, "patient-17")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("keys destroyed:", len(receipt.KeyIDs) > 0)
	fmt.Println("receipt names the person:", strings.Contains(fmt.Sprint(receipt), "patient-17"))

	err = p.Open(ctx, &rec)
	fmt.Println("open after forget:", errors.Is(err, pii.ErrForgotten))
	// Output:
	// keys destroyed: true
	// receipt names the person: false
	// open after forget: true
}

func ExampleWithErasedPlaceholder() {
	ctx := context.Background()
	kek, _ := local.Generate()
	store := memory.New()
	p, _ := pii.New(ctx, kek, store, pii.WithErasedPlaceholder("[erased]"))

	page := []Patient{{ID: "p1", Name: "Ada"}, {ID: "p2", Name: "Grace"}}
	if err := p.SealAll(ctx, page); err != nil {
		log.Fatal(err)
	}
	if _, err := p.Forget(ctx, "p1"); err != nil {
		log.Fatal(err)
	}
	if err := p.OpenAll(ctx, page); err != nil {
		log.Fatal(err)
	}
	for _, r := range page {
		fmt.Println(r.ID, r.Name)
	}
	// Output:
	// p1 [erased]
	// p2 Grace
}

func ExampleCheck() {
	type Bad struct {
		ID  string `pii:"subject"`
		Age int    `pii:"encrypt"`
	}
	fmt.Println(pii.Check[Patient]())
	fmt.Println(pii.Check[Bad]())
	// Output:
	// <nil>
	// pii: field pii_test.Bad.Age: int cannot hold a ciphertext: encrypt applies to string and []byte fields (and pointers, slices, arrays and maps of them); format the value as a string and encrypt that
}

func ExampleSurvivingFields() {
	type Payment struct {
		_    struct{} `pii:"scope=payment_example"` // another Payment type is in this package
		ID   string   `pii:"subject"`
		Card string   `pii:"token,format=pan"`              // shredded by Forget
		Join string   `pii:"token,format=pan,scope=global"` // survives Forget
	}
	fields, err := pii.SurvivingFields[Payment]()
	fmt.Println(fields, err)
	// Output: [Payment.Join] <nil>
}

// LoggedPatient shows the pattern: a LogValue method returning pii.LogValue.
type LoggedPatient Patient

func (p LoggedPatient) LogValue() slog.Value { return pii.LogValue(Patient(p)) }

func ExampleLogValue() {
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{} // keep the output stable
			}
			return a
		},
	}))
	p := Patient{ID: "patient-17", Name: "Ada Lovelace", Email: "ada@example.com", Ward: "B"}
	logger.Info("admitted", "patient", LoggedPatient(p))
	// Output:
	// level=INFO msg=admitted patient.ID=patient-17 patient.Name=[redacted] patient.Email=[redacted] patient.Diagnosis=[redacted] patient.Ward=B
}

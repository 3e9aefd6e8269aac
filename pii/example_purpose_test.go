package pii_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/fieldcrypt/fieldcrypt/keystore/memory"
	"github.com/fieldcrypt/fieldcrypt/kms/local"
	"github.com/fieldcrypt/fieldcrypt/pii"
)

type Subscriber struct {
	ID    string `pii:"subject"`
	Name  string `pii:"encrypt"`
	Card  string `pii:"encrypt,purpose=billing,mask=last4"`
	Notes string `pii:"encrypt,purpose=support"`
}

// Fields open per purpose: the support agent sees the card's last four,
// the billing job the whole card and no notes; marketing needs the
// customer's consent.
func ExampleWithPurposes() {
	ctx := context.Background()
	kek, err := local.Generate()
	if err != nil {
		log.Fatal(err)
	}
	p, err := pii.New(ctx, kek, memory.New(), pii.WithPurposes(
		pii.Purpose{Name: "billing"},
		pii.Purpose{Name: "support"},
		pii.Purpose{Name: "marketing", NeedsConsent: true},
	))
	if err != nil {
		log.Fatal(err)
	}
	stored := Subscriber{ID: "acct-1", Name: "Ada", Card: "4111111111111111", Notes: "refund"}
	if err := p.Seal(ctx, &stored); err != nil {
		log.Fatal(err)
	}
	for _, purpose := range []string{"support", "billing", "marketing"} {
		a := stored
		err := p.Open(pii.WithAccess(ctx, pii.Access{Actor: "example", Purpose: purpose}), &a)
		if errors.Is(err, pii.ErrNoConsent) {
			fmt.Printf("%-9s no consent\n", purpose)
			continue
		}
		fmt.Printf("%-9s %s %s %s\n", purpose, a.Name, a.Card, a.Notes[:min(len(a.Notes), 5)])
	}
	// Output:
	// support   Ada ••••••••••••1111 refun
	// billing   Ada 4111111111111111 fc1a.
	// marketing no consent
}

// A policy narrows what the tags allow, per actor: support trainees do
// not see the notes that support agents see.
func ExampleWithPolicy() {
	ctx := context.Background()
	kek, err := local.Generate()
	if err != nil {
		log.Fatal(err)
	}
	trainee := func(ctx context.Context, a pii.Access, f pii.FieldInfo) pii.Decision {
		if a.Actor == "trainee" && f.Field == "Subscriber.Notes" {
			return pii.Refused
		}
		return pii.Opened // never more than the tags allow
	}
	p, err := pii.New(ctx, kek, memory.New(),
		pii.WithPurposes(pii.Purpose{Name: "billing"}, pii.Purpose{Name: "support"}),
		pii.WithPolicy(trainee))
	if err != nil {
		log.Fatal(err)
	}
	stored := Subscriber{ID: "acct-1", Name: "Ada", Card: "4111111111111111", Notes: "refund"}
	if err := p.Seal(ctx, &stored); err != nil {
		log.Fatal(err)
	}
	for _, actor := range []string{"agent", "trainee"} {
		a := stored
		if err := p.Open(pii.WithAccess(ctx, pii.Access{Actor: actor, Purpose: "support"}), &a); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%-7s %s %s\n", actor, a.Card, a.Notes[:5])
	}
	// Output:
	// agent   ••••••••••••1111 refun
	// trainee ••••••••••••1111 fc1a.
}

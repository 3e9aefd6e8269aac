package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/fieldcrypt/fieldcrypt/keystore"
	"github.com/fieldcrypt/fieldcrypt/kms"
	"github.com/fieldcrypt/fieldcrypt/pii"
)

// Account is a model whose fields are opened per purpose.
type Account struct {
	ID    string `pii:"subject"`
	Name  string `pii:"encrypt"`                                   // every purpose
	Card  string `pii:"encrypt,purpose=billing,mask=last4"`        // billing; the last 4 to the others
	Email string `pii:"encrypt,purpose=billing|support|marketing"` // not to other purposes
	Notes string `pii:"encrypt,purpose=support"`                   // support only: sealed to the others
}

// showPurposes opens one account for three purposes: a support agent sees
// the card masked, a billing job sees all of it, and marketing, which
// needs the customer's consent, is refused once the consent is withdrawn.
func showPurposes(ctx context.Context, kek kms.KEK, store keystore.Store) error {
	if err := pii.CheckPurposes[Account]("billing", "support", "marketing"); err != nil {
		return err
	}
	p, err := pii.New(ctx, kek, store, pii.WithPurposes(
		pii.Purpose{Name: "billing"},
		pii.Purpose{Name: "support"},
		pii.Purpose{Name: "marketing", NeedsConsent: true},
	))
	if err != nil {
		return err
	}
	defer p.Close()

	fmt.Println("Purposes, masks and consent")
	fmt.Println("---------------------------")
	a := Account{ID: "acct-" + rand.Text()[:8], Name: "Ada Lovelace", Card: "4111 1111 1111 1111",
		Email: "ada@example.com", Notes: "asked about a refund"}
	if err := p.Seal(ctx, &a); err != nil {
		return err
	}
	if err := p.GrantConsent(ctx, a.ID, pii.ConsentChange{Purpose: "marketing", Actor: "signup-form"}); err != nil {
		return err
	}
	stored := a

	openAs := func(actor, purpose string) (Account, error) {
		c := stored
		err := p.Open(pii.WithAccess(ctx, pii.Access{Actor: actor, Purpose: purpose}), &c)
		return c, err
	}
	show := func(who string, c Account) {
		fmt.Printf("   %s\n", who)
		for _, f := range [][2]string{{"Name", c.Name}, {"Card", c.Card}, {"Email", c.Email}, {"Notes", c.Notes}} {
			v := f[1]
			if len(v) > 24 && v[:2] == "fc" {
				v = v[:16] + "… (left sealed)"
			}
			fmt.Printf("     %-6s %s\n", f[0], v)
		}
	}

	support, err := openAs("support-agent-7", "support")
	if err != nil {
		return err
	}
	show(`A support agent: pii.WithAccess(ctx, pii.Access{Actor: "support-agent-7", Purpose: "support"})`, support)
	billing, err := openAs("billing-job", "billing")
	if err != nil {
		return err
	}
	show(`The billing job (Purpose: "billing") sees the whole card, not the notes:`, billing)
	marketing, err := openAs("newsletter", "marketing")
	if err != nil {
		return err
	}
	show(`Marketing, with the customer's consent:`, marketing)

	if err := p.WithdrawConsent(ctx, a.ID, pii.ConsentChange{Purpose: "marketing", Actor: "preference-center"}); err != nil {
		return err
	}
	_, err = openAs("newsletter", "marketing")
	fmt.Println("   The customer withdraws consent to marketing; the next marketing Open:")
	fmt.Printf("     error: %v\n", err)
	if !errors.Is(err, pii.ErrNoConsent) {
		return fmt.Errorf("quickstart: expected ErrNoConsent, got %v", err)
	}

	err = p.Seal(ctx, &support)
	fmt.Println("   Saving the support agent's masked copy back is refused, so a mask never overwrites a card:")
	fmt.Printf("     error: %v\n", err)
	if !errors.Is(err, pii.ErrMasked) {
		return fmt.Errorf("quickstart: expected ErrMasked, got %v", err)
	}
	fmt.Println("   Every field decision (opened, masked, refused) goes into the audit event of each Open")
	fmt.Println("   (pii.WithAuditor). Purposes are access control inside your process, not encryption:")
	fmt.Println("   every purpose opens with the same key.")
	fmt.Println()
	return nil
}

// Command quickstart shows fieldcrypt end to end on the embedded default: a
// local key-encryption key file and an SQLite key store, both in a directory
// it creates (./.fieldcrypt/quickstart unless -dir says otherwise).
//
//	go run ./examples/quickstart
//
// It seals a customer, prints what would be stored, opens it again, erases
// the customer with Forget, and shows that the stored data can no longer be
// opened. Then it opens an account for three purposes: a support agent sees
// the card masked, a billing job the whole card, and marketing is refused
// once the customer withdraws consent (purposes.go).
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/fieldcrypt/fieldcrypt/keystore/sqlite"
	"github.com/fieldcrypt/fieldcrypt/kms/local"
	"github.com/fieldcrypt/fieldcrypt/pii"
)

// Customer is a domain model as an application would write it, tagged.
type Customer struct {
	ID      string  `pii:"subject"`               // whose data this is: selects the key
	Name    string  `pii:"encrypt"`               // randomized encryption
	Email   string  `pii:"encrypt,deterministic"` // equal emails give equal ciphertexts
	Address Address // nested structs are walked
	Phones  []Phone // and so are slices
	Plan    string  // not personal data: stays readable
}

type Address struct {
	Street string `pii:"encrypt"`
	City   string
}

type Phone struct {
	Kind   string
	Number string `pii:"encrypt"`
}

func main() {
	dir := flag.String("dir", filepath.Join(".fieldcrypt", "quickstart"), "directory for the key file and the key store")
	flag.Parse()
	if err := run(context.Background(), *dir); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, dir string) error {
	if err := pii.Check[Customer](); err != nil { // fail fast on a bad tag
		return err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return err
	}
	kek, err := local.Open(filepath.Join(abs, "kek.json"))
	if err != nil {
		return err
	}
	store, err := sqlite.Open(ctx, filepath.Join(abs, "keys.db"))
	if err != nil {
		return err
	}
	defer store.Close()
	p, err := pii.New(ctx, kek, store)
	if err != nil {
		return err
	}

	fmt.Println("fieldcrypt quickstart")
	fmt.Println("=====================")
	fmt.Printf("State directory: %s\n", abs)
	fmt.Println("  kek.json  the local key-encryption key (KEK). Development only: in production")
	fmt.Println("            the KEK lives in Vault Transit or a cloud KMS and never enters the app.")
	fmt.Println("  keys.db   the SQLite key store: one key per customer, wrapped by the KEK.")
	fmt.Println()

	// A new customer each run: an erased customer cannot be sealed again.
	c := Customer{
		ID:      "cust-" + rand.Text()[:8],
		Name:    "Ada Lovelace",
		Email:   "ada@example.com",
		Address: Address{Street: "12 St James's Square", City: "London"},
		Phones:  []Phone{{Kind: "mobile", Number: "+44 7700 900123"}, {Kind: "home", Number: "+44 20 7946 0000"}},
		Plan:    "gold",
	}
	fmt.Println("1. The customer, as the application holds it:")
	printJSON(c)

	if err := p.Seal(ctx, &c); err != nil {
		return err
	}
	fmt.Println("2. After p.Seal(ctx, &c), this is what goes into your database:")
	printJSON(c)
	fmt.Println("   Tagged fields are now ciphertext (\"fc1a.\" randomized, \"fc1d.\" deterministic),")
	fmt.Println("   each bound to this customer and this field: copied anywhere else, it will not open.")
	fmt.Println("   ID, City, Kind and Plan were not tagged for encryption and stay readable.")
	fmt.Println()

	stored := c // keep the sealed row, as the database would
	if err := p.Open(ctx, &c); err != nil {
		return err
	}
	fmt.Println("3. After reading the row back, p.Open(ctx, &c) gives the original:")
	printJSON(c)

	// The data map: what personal data the model holds and how it is
	// protected, from the same tags Seal follows. An application writes it
	// as JSON (pii.WriteDataMap) for `fieldcrypt datamap show --from`.
	dm, err := p.DataMap(reflect.TypeFor[Customer]())
	if err != nil {
		return err
	}
	mapFile := filepath.Join(dir, "datamap.json")
	f, err := os.Create(mapFile)
	if err != nil {
		return err
	}
	if err := dm.WriteJSON(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Println("4. The data map of the model, p.DataMap(reflect.TypeFor[Customer]()), as Markdown:")
	fmt.Println("   (also written as JSON to " + mapFile + "; render it with")
	fmt.Println("   fieldcrypt datamap show --from " + mapFile + " --markdown)")
	fmt.Println()
	for _, l := range strings.Split(strings.TrimSpace(dm.Markdown()), "\n") {
		fmt.Println("   " + l)
	}
	fmt.Println()

	// Subject access: the customer asks for their data. The application
	// fetches their rows (here: the stored one) and exports them opened.
	exp, err := p.ExportSubject(ctx, c.ID, stored)
	if err != nil {
		return err
	}
	fmt.Printf("5. The customer asks for a copy of their data: p.ExportSubject(ctx, %q, stored)\n", c.ID)
	fmt.Println("   gives one machine-readable export (the stored row is not changed):")
	exp.GeneratedAt = exp.GeneratedAt.Truncate(1e9)
	printJSON(exp)

	receipt, err := p.Forget(ctx, c.ID)
	if err != nil {
		return err
	}
	fmt.Printf("6. The customer asks to be erased: p.Forget(ctx, %q)\n", c.ID)
	fmt.Printf("   receipt: subject %s…, %d keys destroyed, at %s\n",
		receipt.Subject[:12], len(receipt.KeyIDs), receipt.ErasedAt.Format("2006-01-02 15:04:05 MST"))
	fmt.Println("   The receipt holds a keyed hash of the customer ID, never the ID itself.")
	fmt.Println()

	err = p.Open(ctx, &stored)
	fmt.Println("7. Opening the stored row again:")
	fmt.Printf("   error: %v\n", err)
	fmt.Printf("   errors.Is(err, pii.ErrForgotten) = %v\n", errors.Is(err, pii.ErrForgotten))
	if !errors.Is(err, pii.ErrForgotten) {
		return fmt.Errorf("quickstart: expected ErrForgotten, got %v", err)
	}
	fmt.Println("   The ciphertexts still exist (in the database, in every backup), but the only key")
	fmt.Println("   that could open them is gone: the customer's data is unrecoverable everywhere.")
	fmt.Println()

	// Purposes, masks and consent (purposes.go).
	if err := showPurposes(ctx, kek, store); err != nil {
		return err
	}

	fmt.Println("Next: read the pii package documentation (go doc github.com/fieldcrypt/fieldcrypt/pii)")
	fmt.Printf("and delete %s when you are done.\n", abs)
	return nil
}

func printJSON(v any) {
	b, err := json.MarshalIndent(v, "   ", "  ")
	if err != nil {
		log.Fatal(err)
	}
	// Long ciphertexts are shortened for the screen only.
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		if j := strings.Index(l, `"fc1`); j >= 0 && len(l) > j+40 {
			end := strings.LastIndex(l, `"`)
			lines[i] = l[:j+30] + "…" + l[end:]
		}
	}
	fmt.Println("   " + strings.Join(lines, "\n"))
	fmt.Println()
}

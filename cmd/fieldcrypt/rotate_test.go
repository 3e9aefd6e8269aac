package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/fieldcrypt/fieldcrypt/internal/vaulttest"
	"github.com/fieldcrypt/fieldcrypt/keystore/sqlite"
	"github.com/fieldcrypt/fieldcrypt/kms/vault"
	"github.com/fieldcrypt/fieldcrypt/pii"
)

// TestMigrateToVaultThenRotateAndRewrap moves a store from a local KEK to
// Vault Transit, rotates the Transit key, and rewraps every key to the new
// version through the CLI: interrupted and resumed, with another rotation
// in the middle, and a re-run that does nothing. Every record opens
// throughout.
func TestMigrateToVaultThenRotateAndRewrap(t *testing.T) {
	vaulttest.Require(t) // skip here, not in each subtest, so that the test says SKIP
	t.Run("associated_data", func(t *testing.T) { testMigrateRotateRewrap(t, vaulttest.NewKey, false) })
	// A derived key is rewrapped inside Vault (Transit rewrap).
	t.Run("derived", func(t *testing.T) { testMigrateRotateRewrap(t, vaulttest.NewDerivedKey, true) })
}

func testMigrateRotateRewrap(t *testing.T, newKey func(testing.TB, *api.Client) string, derived bool) {
	root := vaulttest.Client(t)
	key := newKey(t, root)
	t.Setenv("VAULT_ADDR", vaulttest.Addr(t))
	t.Setenv("VAULT_TOKEN", root.Token())
	ctx := context.Background()
	dir := t.TempDir()
	store := "sqlite:" + filepath.Join(dir, "keys.db")
	localKEK := "local:" + filepath.Join(dir, "kek.json")
	vaultKEK := "vault:transit/" + key
	if k, err := openKEK(context.Background(), vaultKEK); err != nil || k.(*vault.KEK).Derived() != derived {
		t.Fatalf("the CLI did not detect the key kind: derived = %v, want %v (%v)", k.(*vault.KEK).Derived(), derived, err)
	}

	// An application on the local KEK with 30 customers.
	p, done := app(t, dir)
	var cs []Customer
	for i := range 30 {
		cs = append(cs, Customer{ID: fmt.Sprint("c", i), Name: fmt.Sprint("name ", i)})
	}
	if err := p.SealAll(ctx, cs); err != nil {
		t.Fatal(err)
	}
	done()

	out, _ := fieldcrypt(t, "keys", "migrate", "--store", store, "--from", localKEK, "--to", vaultKEK, "--batch", "7")
	if !strings.Contains(out, "31 done, 0 skipped, 0 failed") { // 30 subjects + the global keys
		t.Fatalf("migrate: %s", out)
	}
	out, _ = fieldcrypt(t, "keys", "migrate", "--store", store, "--from", localKEK, "--to", vaultKEK)
	if !strings.Contains(out, "0 done, 31 skipped") {
		t.Errorf("second migrate is not a no-op: %s", out)
	}
	openAll := func() {
		t.Helper()
		k, err := openKEK(ctx, vaultKEK)
		if err != nil {
			t.Fatal(err)
		}
		defer k.(*vault.KEK).Close()
		s, err := sqlite.Open(ctx, filepath.Join(dir, "keys.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		p, err := pii.New(ctx, k, s)
		if err != nil {
			t.Fatal(err)
		}
		got := append([]Customer(nil), cs...)
		if err := p.OpenAll(ctx, got); err != nil {
			t.Fatalf("OpenAll with the Vault KEK: %v", err)
		}
		for i := range got {
			if got[i].Name != fmt.Sprint("name ", i) {
				t.Fatalf("record %d opened to %q", i, got[i].Name)
			}
		}
	}
	openAll()
	out, _ = fieldcrypt(t, "keys", "status", "--store", store)
	if !strings.Contains(out, "wrapped by KEK vault:transit/"+key+" version 1: 31 records") {
		t.Errorf("status after migrate:\n%s", out)
	}

	// Rotate, then rewrap in two interrupted runs, rotating again between.
	vaulttest.Rotate(t, root, key)
	_, errOut := fieldcrypt(t, "keys", "rewrap", "--store", store, "--kek", vaultKEK, "--batch", "5", "--limit", "12")
	cursor := errOut[strings.LastIndex(errOut, "--after ")+len("--after "):]
	cursor = strings.TrimSpace(cursor)
	vaulttest.Rotate(t, root, key) // now version 3 is newest
	fieldcrypt(t, "keys", "rewrap", "--store", store, "--kek", vaultKEK, "--batch", "5", "--after", cursor)
	// The first 12 were rewrapped to version 2 before the second rotation:
	// a full run brings them to 3 and skips the rest.
	out, _ = fieldcrypt(t, "keys", "rewrap", "--store", store, "--kek", vaultKEK)
	if !strings.Contains(out, "12 done, 19 skipped, 0 failed") {
		t.Errorf("catch-up rewrap: %s", out)
	}
	out, _ = fieldcrypt(t, "keys", "rewrap", "--store", store, "--kek", vaultKEK)
	if !strings.Contains(out, "0 done, 31 skipped, 0 failed") {
		t.Errorf("re-run is not a no-op: %s", out)
	}
	out, _ = fieldcrypt(t, "keys", "status", "--store", store)
	if !strings.Contains(out, "version 3: 31 records") {
		t.Errorf("status after rewrap:\n%s", out)
	}
	openAll()
}

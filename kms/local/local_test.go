package local_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/fieldcrypt/fieldcrypt/kms"
	"github.com/fieldcrypt/fieldcrypt/kms/kmstest"
	"github.com/fieldcrypt/fieldcrypt/kms/local"
)

func TestOpenCreatesPrivateFileAndReopens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "kek.json")
	k1, err := local.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file mode = %#o, want 0600", perm)
	}
	ctx := context.Background()
	ct, err := k1.Encrypt(ctx, []byte("subject keyset"), []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	k2, err := local.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if k1.ID() != k2.ID() || !strings.HasPrefix(k1.ID(), "local:") {
		t.Errorf("IDs %q and %q: want the same local: ID after reopening", k1.ID(), k2.ID())
	}
	pt, err := k2.Decrypt(ctx, ct, []byte("ad"))
	if err != nil || string(pt) != "subject keyset" {
		t.Fatalf("Decrypt after reopen = %q, %v", pt, err)
	}
}

func TestConcurrentOpenAgreesOnOneKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kek.json")
	ids := make([]string, 8)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := local.Open(path)
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = k.ID()
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("racing Opens created different keys: %v", ids)
		}
	}
}

// TestEveryByteAndOtherKEK goes beyond the conformance suite's samples:
// every byte of a wrap flipped, and a wrap opened by another local KEK.
func TestEveryByteAndOtherKEK(t *testing.T) {
	k, err := local.Generate()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ct, err := k.Encrypt(ctx, []byte("keyset"), []byte("subject-a"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range ct {
		bad := append([]byte(nil), ct...)
		bad[i] ^= 0x01
		if _, err := k.Decrypt(ctx, bad, []byte("subject-a")); !errors.Is(err, kms.ErrAuthentication) {
			t.Fatalf("Decrypt with byte %d flipped = %v, want ErrAuthentication", i, err)
		}
	}
	other, _ := local.Generate()
	if _, err := other.Decrypt(ctx, ct, []byte("subject-a")); !errors.Is(err, kms.ErrAuthentication) {
		t.Errorf("Decrypt with another KEK = %v, want ErrAuthentication", err)
	}
	var kerr *kms.Error
	if _, err := k.Decrypt(ctx, ct[:3], nil); !errors.As(err, &kerr) || kerr.Backend != "local" || kerr.Op != "decrypt" {
		t.Errorf("error %v is not a *kms.Error naming the backend and operation", err)
	}
}

func TestRefusesFileReadableByOthers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kek.json")
	if _, err := local.Open(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := local.Open(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("Open(0644 file) = %v, want a refusal that says how to fix it", err)
	}
}

func TestRefusesCorruptFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kek.json")
	if err := os.WriteFile(path, []byte(`{"not":"a keyset"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := local.Open(path); err == nil {
		t.Error("Open(corrupt file) succeeded")
	}
}

func TestNeverPrintsKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kek.json")
	k, err := local.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	file, _ := os.ReadFile(path)
	// The JSON keyset holds the key base64-encoded in "value".
	i := strings.Index(string(file), `"value":"`)
	if i < 0 {
		t.Fatal("key file has no value field; update this test")
	}
	secret := string(file)[i+9 : i+9+20]
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		if out := fmt.Sprintf(verb, k); strings.Contains(out, secret) || !strings.Contains(out, "redacted") {
			t.Errorf("fmt %s of a KEK = %q", verb, out)
		}
	}
}

func TestConformance(t *testing.T) {
	k, err := local.Generate()
	if err != nil {
		t.Fatal(err)
	}
	kmstest.Conformance(t, k)
}

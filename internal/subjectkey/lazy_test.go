package subjectkey

import (
	"bytes"
	"sync"
	"testing"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/daead"
	"github.com/tink-crypto/tink-go/v2/keyset"
)

// The deterministic AEAD is built on first use: concurrent first uses
// agree, and a ciphertext of one Keys opens with another of the same bundle.
func TestLazyDAEADConcurrentFirstUse(t *testing.T) {
	b, err := New()
	if err != nil {
		t.Fatal(err)
	}
	k1, err := b.Keys()
	if err != nil {
		t.Fatal(err)
	}
	k2, err := b.Keys()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	cts := make([][]byte, 8)
	for i := range cts {
		wg.Go(func() {
			ct, err := k1.DAEAD.EncryptDeterministically([]byte("v"), []byte("ad"))
			if err != nil {
				t.Error(err)
			}
			cts[i] = ct
		})
	}
	wg.Wait()
	for _, ct := range cts[1:] {
		if !bytes.Equal(ct, cts[0]) {
			t.Fatal("deterministic ciphertexts differ")
		}
	}
	pt, err := k2.DAEAD.DecryptDeterministically(cts[0], []byte("ad"))
	if err != nil || string(pt) != "v" {
		t.Fatalf("open with another Keys of the bundle: %q, %v", pt, err)
	}
	if _, err := k2.DAEAD.DecryptDeterministically(cts[0], []byte("other")); err == nil {
		t.Fatal("opened with other associated data")
	}
}

// A bundle whose deterministic keyset holds another kind of key still
// fails at Keys, not at first use.
func TestKeysRefusesWrongDeterministicKeyset(t *testing.T) {
	b, err := New()
	if err != nil {
		t.Fatal(err)
	}
	if b.daead, err = keyset.NewHandle(aead.AES256GCMKeyTemplate()); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Keys(); err == nil {
		t.Fatal("Keys accepted an AES-GCM keyset as the deterministic one")
	}
	// And daead.New agrees that it is unusable.
	if _, err := daead.New(b.daead); err == nil {
		t.Fatal("daead.New accepted it")
	}
}

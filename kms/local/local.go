// Package local provides a key-encryption key held in a local Tink keyset
// file. It is for development, tests and single-machine deployments only:
// the key sits unencrypted on disk (readable by its owner only, mode 0600),
// so anyone who can read the file can unwrap every subject key. Production
// deployments keep the KEK in Vault Transit or a cloud KMS, where it never
// enters the application's memory.
//
// The file is a Tink keyset in JSON holding one AES-256-GCM key. It is
// created on first use by [Open].
package local

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/fieldcrypt/fieldcrypt/kms"
)

// KEK is a key-encryption key held in process memory. It is safe for
// concurrent use. It never prints its key.
type KEK struct {
	id      string
	primary tink.AEAD
}

var _ kms.KEK = (*KEK)(nil)

// Open loads the KEK stored at path, creating the file (and its directory)
// with a new random key if it does not exist. An existing file that group or
// other users can read or write is refused: fix it with chmod 600.
func Open(path string) (*KEK, error) {
	k, err := load(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	if err := create(path); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, err
	}
	// Either we created it, or another process won the race: read what is
	// there so that both use the same key.
	return load(path)
}

// Generate returns a new KEK that exists only in memory, for tests and
// examples. Everything it wraps is lost when the process exits.
func Generate() (*KEK, error) {
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		return nil, fmt.Errorf("local: generate key: %w", err)
	}
	return fromHandle(h)
}

func load(path string) (*KEK, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("local: open key file: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("local: open key file: %w", err)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("local: key file %s has mode %#o; it must be readable by its owner only (chmod 600)", path, perm)
	}
	h, err := insecurecleartextkeyset.Read(keyset.NewJSONReader(f))
	if err != nil {
		return nil, fmt.Errorf("local: key file %s is not a valid Tink keyset: %w", path, err)
	}
	return fromHandle(h)
}

func create(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("local: create key directory: %w", err)
	}
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		return fmt.Errorf("local: generate key: %w", err)
	}
	// Write to a temporary file first and link it into place, so a crash
	// never leaves a half-written key file and two racing creators cannot
	// both win.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".kek-*")
	if err != nil {
		return fmt.Errorf("local: create key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("local: create key file: %w", err)
	}
	if err := insecurecleartextkeyset.Write(h, keyset.NewJSONWriter(tmp)); err != nil {
		tmp.Close()
		return fmt.Errorf("local: write key file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("local: write key file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("local: write key file: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return fmt.Errorf("local: create key file: %w", err)
	}
	return nil
}

func fromHandle(h *keyset.Handle) (*KEK, error) {
	primary, err := aead.New(h)
	if err != nil {
		return nil, fmt.Errorf("local: key file does not hold an AEAD key: %w", err)
	}
	p, err := h.Primary()
	if err != nil {
		return nil, fmt.Errorf("local: key file has no primary key: %w", err)
	}
	return &KEK{id: fmt.Sprintf("local:%d", p.KeyID()), primary: primary}, nil
}

// ID returns "local:" followed by the Tink key id of the primary key.
func (k *KEK) ID() string { return k.id }

// Encrypt wraps plaintext with the local key.
func (k *KEK) Encrypt(ctx context.Context, plaintext, associatedData []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, k.fail("encrypt", kms.Classify(kms.ErrUnavailable, err))
	}
	ct, err := k.primary.Encrypt(plaintext, associatedData)
	if err != nil {
		return nil, k.fail("encrypt", kms.Classify(kms.ErrRefused, err))
	}
	return ct, nil
}

// Decrypt unwraps ciphertext with the local key.
func (k *KEK) Decrypt(ctx context.Context, ciphertext, associatedData []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, k.fail("decrypt", kms.Classify(kms.ErrUnavailable, err))
	}
	pt, err := k.primary.Decrypt(ciphertext, associatedData)
	if err != nil {
		// Tink's message says only that decryption failed; it holds no data.
		return nil, k.fail("decrypt", kms.ErrAuthentication)
	}
	return pt, nil
}

func (k *KEK) fail(op string, err error) error {
	return &kms.Error{Op: op, Backend: "local", KeyID: k.id, Err: err}
}

// String never reveals the key.
func (k *KEK) String() string { return "local.KEK(" + k.id + ", [redacted])" }

// GoString never reveals the key.
func (k *KEK) GoString() string { return k.String() }

// Format never reveals the key, whatever the verb.
func (k *KEK) Format(f fmt.State, _ rune) { fmt.Fprint(f, k.String()) }

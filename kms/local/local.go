// Package local provides a key-encryption key held in a local Tink keyset
// file. It is for development, tests and single-machine deployments only:
// the key sits unencrypted on disk (readable by its owner only, mode 0600),
// so anyone who can read the file can unwrap every subject key. Production
// deployments keep the KEK in Vault Transit or a cloud KMS, where it never
// enters the application's memory.
//
// The file is a Tink keyset in JSON holding one AES-256-GCM key. It is
// created on first use by [Open].
//
// Because whoever controls the file controls every subject key, [Open]
// trusts a key file only if no other user could have read, planted or
// replaced it. It refuses, with an [*UnsafeFileError]:
//
//   - a symbolic link (the file itself must be at the path) or anything
//     that is not a regular file;
//   - a file that group or other users can read or write (fix: chmod 600);
//   - on Unix, a file not owned by the effective user of the process;
//   - a file whose directory group or other users can write, unless the
//     directory has the sticky bit (like /tmp, mode 1777: others can then
//     neither remove nor rename the owner's file), or whose directory is
//     owned by anyone but the effective user or root.
//
// Only the file's own directory is checked, not its ancestors. Open does not
// create a key in a directory it would refuse.
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
// with a new random key if it does not exist. A file or directory that
// another user could have read, planted or replaced is refused with an
// *UnsafeFileError (see the package documentation).
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

// ErrUnsafeKeyFile is wrapped by every *UnsafeFileError.
var ErrUnsafeKeyFile = errors.New("local: unsafe key file")

// UnsafeFileError refuses a key file, or its directory, that another user
// could have read, planted or replaced. It names the path, never the key.
type UnsafeFileError struct {
	Path   string // the key file, or its directory
	Reason string // what is wrong, and how to fix it
}

func (e *UnsafeFileError) Error() string {
	return fmt.Sprintf("local: unsafe key file: %s %s", e.Path, e.Reason)
}

func (e *UnsafeFileError) Unwrap() error { return ErrUnsafeKeyFile }

// checkDir refuses a directory that users other than the process's own and
// root can write to, unless it is sticky. A missing directory is fine: it
// will be created with mode 0700.
func checkDir(dir string) error {
	info, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("local: key directory: %w", err)
	}
	if !info.IsDir() {
		return &UnsafeFileError{Path: dir, Reason: "is not a directory"}
	}
	if uid, ok := owner(info); ok && uid != os.Geteuid() && uid != 0 {
		return &UnsafeFileError{Path: dir, Reason: fmt.Sprintf("(the key's directory) is owned by uid %d, not by uid %d or root: its owner could replace the key", uid, os.Geteuid())}
	}
	if perm := info.Mode().Perm(); perm&0o022 != 0 && info.Mode()&fs.ModeSticky == 0 {
		return &UnsafeFileError{Path: dir, Reason: fmt.Sprintf("(the key's directory) has mode %#o: other users could replace the key (chmod go-w, or keep the key in a private directory)", perm)}
	}
	return nil
}

// checkFile refuses a key file that is a symbolic link or not a regular
// file, that group or other users can read or write, or that another user
// owns.
func checkFile(path string, info fs.FileInfo) error {
	switch {
	case info.Mode()&fs.ModeSymlink != 0:
		return &UnsafeFileError{Path: path, Reason: "is a symbolic link: give the key file's own path"}
	case !info.Mode().IsRegular():
		return &UnsafeFileError{Path: path, Reason: "is not a regular file"}
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return &UnsafeFileError{Path: path, Reason: fmt.Sprintf("has mode %#o; it must be readable by its owner only (chmod 600)", perm)}
	}
	if uid, ok := owner(info); ok && uid != os.Geteuid() {
		return &UnsafeFileError{Path: path, Reason: fmt.Sprintf("is owned by uid %d, not by this process's uid %d (chown it, or create a new key)", uid, os.Geteuid())}
	}
	return nil
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
	if err := checkDir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	// Lstat, not Stat: a symbolic link is refused, not followed.
	before, err := os.Lstat(path)
	if err != nil {
		return nil, fmt.Errorf("local: open key file: %w", err)
	}
	if err := checkFile(path, before); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("local: open key file: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("local: open key file: %w", err)
	}
	// What was opened must be what was checked, not something swapped in
	// between.
	if !os.SameFile(before, info) {
		return nil, &UnsafeFileError{Path: path, Reason: "was replaced while it was being opened"}
	}
	if err := checkFile(path, info); err != nil {
		return nil, err
	}
	h, err := insecurecleartextkeyset.Read(keyset.NewJSONReader(f))
	if err != nil {
		return nil, fmt.Errorf("local: key file %s is not a valid Tink keyset: %w", path, err)
	}
	return fromHandle(h)
}

func create(path string) error {
	if err := checkDir(filepath.Dir(path)); err != nil {
		return err
	}
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

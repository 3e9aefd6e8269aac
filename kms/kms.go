// Package kms defines the key-encryption key (KEK) that fieldcrypt wraps every
// subject keyset with, and the error classes every backend maps its failures to.
//
// A KEK lives outside the application: in HashiCorp Vault Transit or a cloud
// KMS. Only the development backend, [github.com/fieldcrypt/fieldcrypt/kms/local],
// holds key material in-process. Every call takes a [context.Context] because
// every real backend is a network round trip.
//
// Backends implement [KEK]. Those that can do more advertise it through
// optional interfaces, found by type assertion:
//
//   - [Batcher]: many wraps or unwraps in one round trip (Vault's batch_input).
//   - [Rewrapper]: re-encrypt wrapped keys under the newest key version
//     inside the backend (Vault's rewrap), without the plaintext leaving it.
//
// Errors returned by a backend wrap exactly one of [ErrUnavailable],
// [ErrRefused] or [ErrAuthentication], so callers can decide with [errors.Is]
// whether to retry. Use [Retryable] rather than testing the classes yourself.
package kms

import (
	"context"
	"errors"
	"fmt"
)

// KEK is a key-encryption key: an AEAD whose key never leaves its backend.
//
// Implementations must be safe for concurrent use.
type KEK interface {
	// ID names this key-encryption key. It is recorded beside everything the
	// KEK wraps, so that an operator can see which KEK protects which keys and
	// migrate from one to another. It must be stable for the life of the key
	// and must not contain secrets.
	ID() string

	// Encrypt wraps plaintext, binding associatedData to the result.
	Encrypt(ctx context.Context, plaintext, associatedData []byte) ([]byte, error)

	// Decrypt unwraps ciphertext. It fails with an error wrapping
	// ErrAuthentication when the ciphertext was not produced by this KEK with
	// the same associatedData.
	Decrypt(ctx context.Context, ciphertext, associatedData []byte) ([]byte, error)
}

// Request is one item of a batch: the data to wrap or unwrap and the
// associated data bound to it.
type Request struct {
	Data           []byte
	AssociatedData []byte
}

// Result is the outcome of one item of a batch. Exactly one of Data and Err
// is set.
type Result struct {
	Data []byte
	Err  error
}

// Batcher is implemented by KEKs that can wrap or unwrap many items in one
// round trip. The returned slice has one Result per Request, in order. The
// error return is for failures of the whole batch (the backend could not be
// reached); per-item failures are reported in the Results.
type Batcher interface {
	KEK
	EncryptBatch(ctx context.Context, reqs []Request) ([]Result, error)
	DecryptBatch(ctx context.Context, reqs []Request) ([]Result, error)
}

// Rewrapper is implemented by KEKs that can re-encrypt what they wrapped
// under their newest key version without returning the plaintext. Each
// Request's Data is a wrapped key and AssociatedData what it was bound to;
// each Result's Data is the rewrapped key. The error return is for failures
// of the whole batch.
type Rewrapper interface {
	KEK
	Rewrap(ctx context.Context, reqs []Request) ([]Result, error)
}

// The error classes. Every error a backend returns wraps exactly one of them.
var (
	// ErrUnavailable: the backend could not be reached, timed out, or asked
	// us to slow down. Retrying later may succeed.
	ErrUnavailable = errors.New("kms: unavailable")

	// ErrRefused: the backend answered and said no (permission denied,
	// unknown key, invalid request). Retrying will not help.
	ErrRefused = errors.New("kms: refused")

	// ErrAuthentication: the ciphertext or its associated data is not what
	// the KEK produced. The wrapped key was tampered with, moved to another
	// record, or wrapped by another key. Never retried.
	ErrAuthentication = errors.New("kms: authentication failed")
)

// Error describes a failed KEK operation. It never holds key material,
// plaintext or ciphertext.
type Error struct {
	Op      string // "encrypt", "decrypt", "encrypt batch", ...
	Backend string // "local", "vault", "awskms", ...
	KeyID   string // the KEK's ID
	Err     error  // wraps one of the error classes, possibly with a cause
}

func (e *Error) Error() string {
	return fmt.Sprintf("kms: %s %s with key %q: %v", e.Backend, e.Op, e.KeyID, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Retryable reports whether err is a transient KEK failure worth retrying.
// Cancellation of the caller's own context is not retryable.
func Retryable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	return errors.Is(err, ErrUnavailable)
}

// Classify wraps cause in class so that both match with errors.Is. A nil
// cause gives class itself.
func Classify(class, cause error) error {
	if cause == nil {
		return class
	}
	return &classified{class: class, cause: cause}
}

type classified struct{ class, cause error }

func (c *classified) Error() string   { return c.class.Error() + ": " + c.cause.Error() }
func (c *classified) Unwrap() []error { return []error{c.class, c.cause} }

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
//   - [PlaintextLimiter]: the largest plaintext the backend wraps (AWS KMS
//     4 KiB, Cloud KMS 64 KiB), so that callers refuse a larger key bundle
//     before the call instead of learning it from the backend.
//
// Errors returned by a backend wrap exactly one of [ErrUnavailable],
// [ErrRefused] or [ErrAuthentication], so callers can decide with [errors.Is]
// whether to retry. Use [Retryable] rather than testing the classes yourself.
// A call ended by the caller's context wraps ErrUnavailable and the context's
// error (not retryable); one ended by a time limit of the backend's client
// wraps ErrUnavailable and [ErrTimeout] (retryable, see [Timeout]).
//
// [RetryPolicy] retries what Retryable allows, with backoff, honouring a
// server's Retry-After up to a cap (MaxRetryAfter, by default Max).
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

// PlaintextLimiter is implemented by KEKs whose backend refuses plaintexts
// above a fixed size. MaxPlaintextSize returns that size in bytes; Encrypt of
// anything larger fails with an error wrapping [ErrRefused] without calling
// the backend.
type PlaintextLimiter interface {
	KEK
	MaxPlaintextSize() int
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

	// ErrTimeout: a call ran past a time limit of its own — a backend
	// client's timeout, or one the library sets, such as a fetch timeout —
	// while the caller's context was still live. It is always wrapped
	// together with ErrUnavailable (see Timeout), and never with a context
	// error, so Retryable reports true.
	ErrTimeout = errors.New("kms: timed out")
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

// Retryable reports whether err is a transient KEK failure worth retrying:
// it wraps ErrUnavailable and wraps neither context.Canceled nor
// context.DeadlineExceeded. An error wrapping a context error says that the
// caller's context ended, and retrying under it cannot succeed.
//
// A time limit other than the caller's context (a backend client's
// timeout, a fetch timeout set inside the library) expires with
// context.DeadlineExceeded too. Whoever set it must report it through
// Timeout, which keeps ErrUnavailable, adds ErrTimeout and hides the context
// error, so that Retryable reports true:
//
//	if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
//		err = kms.Timeout(err) // our own limit, not the caller's: retryable
//	}
//
// The backends in this module do so for their clients' timeouts.
func Retryable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	return errors.Is(err, ErrUnavailable)
}

// Timeout reports cause as a time limit of one's own that expired while the
// caller's context was live (see Retryable). The result wraps ErrUnavailable
// and ErrTimeout, so Retryable reports true; errors.Is does not see the
// context errors in cause, but errors.As still finds cause's types (a
// *Error, say). Its message is "kms: timed out: " and cause's message.
// Timeout(nil) is an ErrTimeout without a cause.
func Timeout(cause error) error { return &timeout{cause: cause} }

type timeout struct{ cause error }

func (e *timeout) Error() string {
	if e.cause == nil {
		return ErrTimeout.Error()
	}
	return ErrTimeout.Error() + ": " + e.cause.Error()
}

// Unwrap exposes the classes only, so that errors.Is never reaches a
// context error inside cause.
func (e *timeout) Unwrap() []error { return []error{ErrUnavailable, ErrTimeout} }

// As looks for target in cause's tree.
func (e *timeout) As(target any) bool { return e.cause != nil && errors.As(e.cause, target) }

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

package pii

import (
	"errors"
	"fmt"
)

// Sentinel errors of the key lifecycle: initialization, erasure and the
// erasure watcher. Match them with errors.Is.
var (
	// ErrNotInitialized: New was given WithoutInit and the key store has no
	// global keys. The store is empty: initialize it by calling New without
	// WithoutInit once (or `fieldcrypt keystore init`).
	ErrNotInitialized = errors.New("pii: key store not initialized (no global keys)")

	// ErrGlobalKeysMissing: the key store holds subject keys, tombstones or
	// receipts but not the global keys they are addressed by (a partial
	// restore, a copied table, a mistaken DELETE), or the global keys were
	// erased. New refuses to create new global keys over such a store: every
	// subject reference would change, tombstones would stop matching and
	// erased subjects would get fresh keys. Restore the global record
	// ("fieldcrypt.global") from a backup.
	ErrGlobalKeysMissing = errors.New("pii: the key store has subject keys or tombstones but no global keys: restore the global record")

	// ErrKeysChanged: the subject's keys were erased and readmitted (by this
	// process or, as announced, another) while they were being loaded, and
	// the load kept failing to settle. It is transient: retry the call.
	ErrKeysChanged = errors.New("pii: the subject's keys changed while loading; retry")

	// ErrFetchTimeout: a key fetch took longer than WithFetchTimeout while
	// the caller's context was still alive. It also matches
	// kms.ErrUnavailable (so kms.Retryable reports true), and never
	// context.DeadlineExceeded, which is kept for the caller's own deadline.
	ErrFetchTimeout = errors.New("pii: key fetch timed out")

	// ErrWatcherDown: WithFailClosedWithoutWatcher is set and the key
	// store's erasure announcements have not been received for longer than
	// allowed, so no subject key is used: an erasure elsewhere could go
	// unnoticed. It is transient: it clears once the watcher listens again.
	ErrWatcherDown = errors.New("pii: erasure watcher down; refusing to use subject keys")

	// ErrNoWatcher: WithFailClosedWithoutWatcher was given for a key store
	// that cannot announce erasures (only keystore/postgres can).
	ErrNoWatcher = errors.New("pii: the key store cannot announce erasures")

	// ErrBundleTooLarge: a subject's serialized keys would exceed what the
	// KEK can wrap (see BundleSizeError and PruneSubjectKeys).
	ErrBundleTooLarge = errors.New("pii: subject key bundle too large to wrap")
)

// BundleSizeError reports a key bundle that would exceed the size the KEK
// can wrap; it matches ErrBundleTooLarge. RotateSubjectKey returns it
// instead of calling the KEK: prune retired keys (PruneSubjectKeys) first.
type BundleSizeError struct {
	Size  int // serialized bundle size, in bytes
	Limit int // the largest plaintext the KEK accepts (see WithMaxBundleSize)
	Keys  int // encryption keys in the bundle
}

func (e *BundleSizeError) Error() string {
	return fmt.Sprintf("pii: subject key bundle of %d bytes (%d encryption keys) exceeds the KEK's %d-byte limit; re-seal old data and prune retired keys with PruneSubjectKeys", e.Size, e.Keys, e.Limit)
}

func (e *BundleSizeError) Unwrap() error { return ErrBundleTooLarge }

// fetchTimeoutError is returned when WithFetchTimeout fires while the
// caller's context is alive: it matches ErrFetchTimeout and
// kms.ErrUnavailable, and deliberately not context.DeadlineExceeded.
type fetchTimeoutError struct {
	cause string // the underlying error's message, for diagnosis
	class error  // kms.ErrUnavailable
}

func (e *fetchTimeoutError) Error() string {
	return "pii: key fetch timed out (" + e.cause + ")"
}

func (e *fetchTimeoutError) Unwrap() []error { return []error{ErrFetchTimeout, e.class} }

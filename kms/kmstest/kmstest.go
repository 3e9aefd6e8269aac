// Package kmstest provides a fake key-encryption key for tests: it really
// encrypts (with an in-memory AES-256-GCM key), counts its calls, and can be
// told to be slow or to fail. It is for fault injection only; tests of a real
// backend run against the real server.
package kmstest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fieldcrypt/fieldcrypt/kms"
	"github.com/fieldcrypt/fieldcrypt/kms/local"
)

// Op names a KEK operation, for counting and fault injection.
type Op string

// The operations a KEK performs.
const (
	OpEncrypt      Op = "encrypt"
	OpDecrypt      Op = "decrypt"
	OpEncryptBatch Op = "encrypt batch"
	OpDecryptBatch Op = "decrypt batch"
)

// KEK is a fake key-encryption key. It implements [kms.Batcher]. The zero
// value is not usable; call [New].
type KEK struct {
	id    string
	inner *local.KEK

	mu      sync.Mutex
	latency time.Duration
	fault   func(op Op) error

	calls [4]atomic.Int64
	items atomic.Int64
}

var _ kms.Batcher = (*KEK)(nil)

// New returns a fake KEK with a fresh random key and the given ID.
func New(id string) *KEK {
	inner, err := local.Generate()
	if err != nil {
		// Generating a key only fails if the system's randomness does.
		panic("kmstest: " + err.Error())
	}
	return &KEK{id: id, inner: inner}
}

// SetLatency makes every call wait d (or until its context ends) first.
func (k *KEK) SetLatency(d time.Duration) {
	k.mu.Lock()
	k.latency = d
	k.mu.Unlock()
}

// SetFault installs f, which is called before every operation; a non-nil
// result is returned as that operation's error (wrapped in a *kms.Error).
// Return an error wrapping kms.ErrUnavailable or kms.ErrRefused to imitate a
// real backend. A nil f removes the fault.
func (k *KEK) SetFault(f func(op Op) error) {
	k.mu.Lock()
	k.fault = f
	k.mu.Unlock()
}

// FailAll makes every operation fail with err until SetFault(nil).
func (k *KEK) FailAll(err error) { k.SetFault(func(Op) error { return err }) }

// Calls reports how many times op was called.
func (k *KEK) Calls(op Op) int64 { return k.calls[opIndex(op)].Load() }

// Items reports how many items were wrapped or unwrapped in all, counting
// each item of a batch.
func (k *KEK) Items() int64 { return k.items.Load() }

// ResetCounts sets every counter back to zero.
func (k *KEK) ResetCounts() {
	for i := range k.calls {
		k.calls[i].Store(0)
	}
	k.items.Store(0)
}

// ID returns the ID given to New.
func (k *KEK) ID() string { return k.id }

// Encrypt wraps plaintext.
func (k *KEK) Encrypt(ctx context.Context, plaintext, associatedData []byte) ([]byte, error) {
	if err := k.enter(ctx, OpEncrypt, 1); err != nil {
		return nil, err
	}
	ct, err := k.inner.Encrypt(ctx, plaintext, associatedData)
	return ct, k.rename(OpEncrypt, err)
}

// Decrypt unwraps ciphertext.
func (k *KEK) Decrypt(ctx context.Context, ciphertext, associatedData []byte) ([]byte, error) {
	if err := k.enter(ctx, OpDecrypt, 1); err != nil {
		return nil, err
	}
	pt, err := k.inner.Decrypt(ctx, ciphertext, associatedData)
	return pt, k.rename(OpDecrypt, err)
}

// EncryptBatch wraps every request in one call.
func (k *KEK) EncryptBatch(ctx context.Context, reqs []kms.Request) ([]kms.Result, error) {
	if err := k.enter(ctx, OpEncryptBatch, len(reqs)); err != nil {
		return nil, err
	}
	out := make([]kms.Result, len(reqs))
	for i, r := range reqs {
		d, err := k.inner.Encrypt(ctx, r.Data, r.AssociatedData)
		out[i] = kms.Result{Data: d, Err: k.rename(OpEncryptBatch, err)}
	}
	return out, nil
}

// DecryptBatch unwraps every request in one call.
func (k *KEK) DecryptBatch(ctx context.Context, reqs []kms.Request) ([]kms.Result, error) {
	if err := k.enter(ctx, OpDecryptBatch, len(reqs)); err != nil {
		return nil, err
	}
	out := make([]kms.Result, len(reqs))
	for i, r := range reqs {
		d, err := k.inner.Decrypt(ctx, r.Data, r.AssociatedData)
		out[i] = kms.Result{Data: d, Err: k.rename(OpDecryptBatch, err)}
	}
	return out, nil
}

func (k *KEK) enter(ctx context.Context, op Op, n int) error {
	k.calls[opIndex(op)].Add(1)
	k.items.Add(int64(n))
	k.mu.Lock()
	latency, fault := k.latency, k.fault
	k.mu.Unlock()
	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-ctx.Done():
			t.Stop()
			return k.fail(op, kms.Classify(kms.ErrUnavailable, ctx.Err()))
		case <-t.C:
		}
	}
	if err := ctx.Err(); err != nil {
		return k.fail(op, kms.Classify(kms.ErrUnavailable, err))
	}
	if fault != nil {
		if err := fault(op); err != nil {
			return k.fail(op, err)
		}
	}
	return nil
}

// rename reports errors of the inner local KEK as this fake's own.
func (k *KEK) rename(op Op, err error) error {
	if err == nil {
		return nil
	}
	if e, ok := err.(*kms.Error); ok {
		return k.fail(op, e.Err)
	}
	return k.fail(op, err)
}

func (k *KEK) fail(op Op, err error) error {
	return &kms.Error{Op: string(op), Backend: "kmstest", KeyID: k.id, Err: err}
}

func opIndex(op Op) int {
	switch op {
	case OpEncrypt:
		return 0
	case OpDecrypt:
		return 1
	case OpEncryptBatch:
		return 2
	case OpDecryptBatch:
		return 3
	}
	panic(fmt.Sprintf("kmstest: unknown op %q", op))
}

// String never reveals the key.
func (k *KEK) String() string { return "kmstest.KEK(" + k.id + ", [redacted])" }

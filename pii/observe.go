package pii

import (
	"context"
	"fmt"
	"time"

	"github.com/fieldcrypt/fieldcrypt/kms"
)

// Observer receives operational signals for metrics (see the
// telemetry/otelfc module for OpenTelemetry). Every field is optional; a
// nil function costs one comparison. The functions are called on the
// goroutines of the operations they observe, so they must be fast and safe
// for concurrent use, and must not call the Protector.
type Observer struct {
	// CacheHit is called when a subject's keys are served from the key
	// cache, CacheMiss when they are not (and are loaded from the key
	// store and the KMS, or found forgotten).
	CacheHit  func()
	CacheMiss func()
	// KMSCall is called after each call to the KEK: op is "encrypt",
	// "decrypt", "encrypt-batch" or "decrypt-batch", d how long it took,
	// err its error (nil on success).
	KMSCall func(op string, d time.Duration, err error)
	// Erased is called once per subject erased by Forget or a retention
	// sweep in this process.
	Erased func()
}

// WithObserver sets the Protector's Observer.
func WithObserver(o Observer) Option {
	return func(c *config) error { c.observer = o; return nil }
}

// observe installs o: the KEK is wrapped only if KMSCall is set.
func (r *keyring) observe(o Observer) {
	r.obs = o
	if o.KMSCall == nil {
		return
	}
	r.kek = observedKEK{KEK: r.kek, call: o.KMSCall}
	if r.batcher != nil {
		r.batcher = observedBatcher{observedKEK: observedKEK{KEK: r.batcher, call: o.KMSCall}, b: r.batcher}
	}
}

func (r *keyring) hit() {
	if r.obs.CacheHit != nil {
		r.obs.CacheHit()
	}
}

func (r *keyring) miss(n int) {
	if r.obs.CacheMiss != nil {
		for range n {
			r.obs.CacheMiss()
		}
	}
}

func (r *keyring) erased() {
	if r.obs.Erased != nil {
		r.obs.Erased()
	}
}

// observedKEK times the calls of a KEK.
type observedKEK struct {
	kms.KEK
	call func(op string, d time.Duration, err error)
}

func (k observedKEK) Encrypt(ctx context.Context, pt, ad []byte) ([]byte, error) {
	t := time.Now()
	out, err := k.KEK.Encrypt(ctx, pt, ad)
	k.call("encrypt", time.Since(t), err)
	return out, err
}

func (k observedKEK) Decrypt(ctx context.Context, ct, ad []byte) ([]byte, error) {
	t := time.Now()
	out, err := k.KEK.Decrypt(ctx, ct, ad)
	k.call("decrypt", time.Since(t), err)
	return out, err
}

// MaxPlaintextSize passes the wrapped KEK's limit on (0: none stated).
func (k observedKEK) MaxPlaintextSize() int {
	if l, ok := k.KEK.(plaintextLimiter); ok {
		return l.MaxPlaintextSize()
	}
	return 0
}

func (k observedKEK) String() string { return fmt.Sprintf("%v", k.KEK) }

type observedBatcher struct {
	observedKEK
	b kms.Batcher
}

func (b observedBatcher) EncryptBatch(ctx context.Context, reqs []kms.Request) ([]kms.Result, error) {
	t := time.Now()
	out, err := b.b.EncryptBatch(ctx, reqs)
	b.call("encrypt-batch", time.Since(t), err)
	return out, err
}

func (b observedBatcher) DecryptBatch(ctx context.Context, reqs []kms.Request) ([]kms.Result, error) {
	t := time.Now()
	out, err := b.b.DecryptBatch(ctx, reqs)
	b.call("decrypt-batch", time.Since(t), err)
	return out, err
}

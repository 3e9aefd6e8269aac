package awskms_test

import (
	"context"
	"errors"
	"testing"

	"github.com/fieldcrypt/fieldcrypt/kms"
	"github.com/fieldcrypt/fieldcrypt/kms/awskms"
)

// TestPlaintextLimit: the KEK states the backend's plaintext limit, and a
// plaintext one byte over it is refused (not retryable) without a call to
// the backend, so that a too-large key bundle fails fast and the same way
// on every run.
func TestPlaintextLimit(t *testing.T) {
	stub := &stubAPI{mode: "throttle"}
	k, err := awskms.New(awskms.Config{Client: stub, KeyID: arn})
	if err != nil {
		t.Fatal(err)
	}
	var limiter kms.PlaintextLimiter = k
	if got := limiter.MaxPlaintextSize(); got != awskms.MaxPlaintextSize {
		t.Fatalf("MaxPlaintextSize() = %d, want %d", got, awskms.MaxPlaintextSize)
	}
	_, err = k.Encrypt(context.Background(), make([]byte, awskms.MaxPlaintextSize+1), []byte("ad"))
	if !errors.Is(err, kms.ErrRefused) || kms.Retryable(err) {
		t.Fatalf("Encrypt(limit+1) = %v, want a non-retryable kms.ErrRefused", err)
	}
	if n := stub.calls.Load(); n != 0 {
		t.Fatalf("backend called %d times for a plaintext over the limit", n)
	}
	// At the limit the backend is asked (the stub throttles it).
	_, _ = k.Encrypt(context.Background(), make([]byte, awskms.MaxPlaintextSize), []byte("ad"))
	if stub.calls.Load() == 0 {
		t.Fatal("backend not called for a plaintext at the limit")
	}
}

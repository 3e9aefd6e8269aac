package kmstest

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/fieldcrypt/fieldcrypt/kms"
)

// Conformance checks the contract every kms.KEK must keep, against kek:
// wrapped keys round-trip; the associated data is authenticated (another,
// a missing or a one-byte-longer one fails with kms.ErrAuthentication,
// never retryable); a wrap cannot be moved to another record; a tampered
// wrap never unwraps; wrapping is randomized; a canceled context fails as
// unavailable; the ID is stable and non-empty. A backend's own test calls
// it with a KEK on the real server (or the fake of its wire protocol).
func Conformance(t *testing.T, kek kms.KEK) {
	t.Helper()
	ctx := context.Background()
	// Sizes like pii's: a serialized bundle of three keysets, and the wrap
	// associated data of a subject record.
	keyset := bytes.Repeat([]byte{0x5a, 0x01, 0xc3}, 100)
	adA := []byte("fieldcrypt/keyset/v1\x00\x00\x00\x2es.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	adB := []byte("fieldcrypt/keyset/v1\x00\x00\x00\x2es.BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB")

	if id := kek.ID(); id == "" || id != kek.ID() {
		t.Errorf("ID() = %q: want a stable, non-empty name", id)
	}
	ct, err := kek.Encrypt(ctx, keyset, adA)
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	if bytes.Contains(ct, keyset[:30]) {
		t.Error("the wrapped key contains the plaintext")
	}
	pt, err := kek.Decrypt(ctx, ct, adA)
	if err != nil || !bytes.Equal(pt, keyset) {
		t.Fatalf("Decrypt(Encrypt(k)) = %d bytes, %v; want the key back", len(pt), err)
	}
	if again, err := kek.Encrypt(ctx, keyset, adA); err != nil || bytes.Equal(again, ct) {
		t.Errorf("wrapping the same key twice gave equal results (%v): wrapping must be randomized", err)
	}

	for name, ad := range map[string][]byte{
		"another record's": adB,
		"missing":          nil,
		"one byte longer":  append(append([]byte(nil), adA...), 0),
		"one byte shorter": adA[:len(adA)-1],
	} {
		_, err := kek.Decrypt(ctx, ct, ad)
		if !errors.Is(err, kms.ErrAuthentication) || kms.Retryable(err) {
			t.Errorf("Decrypt with %s associated data = %v, want a non-retryable kms.ErrAuthentication", name, err)
		}
		var kerr *kms.Error
		if err != nil && !errors.As(err, &kerr) {
			t.Errorf("Decrypt error %v is not a *kms.Error", err)
		}
	}

	// Tampering: whatever the backend's format, a changed wrap never
	// unwraps, and the failure is final.
	for _, i := range []int{0, len(ct) / 2, len(ct) - 1} {
		bad := append([]byte(nil), ct...)
		bad[i] ^= 0x01
		if pt, err := kek.Decrypt(ctx, bad, adA); err == nil || kms.Retryable(err) {
			t.Errorf("Decrypt with byte %d flipped = %d bytes, %v; want a non-retryable failure", i, len(pt), err)
		}
	}
	if _, err := kek.Decrypt(ctx, ct[:len(ct)-1], adA); err == nil {
		t.Error("a truncated wrap unwrapped")
	}

	// Empty associated data is allowed (pii never sends it, others may).
	if ct, err := kek.Encrypt(ctx, keyset, nil); err == nil {
		if pt, err := kek.Decrypt(ctx, ct, nil); err != nil || !bytes.Equal(pt, keyset) {
			t.Errorf("round trip without associated data = %v", err)
		}
	} else if !errors.Is(err, kms.ErrRefused) {
		t.Errorf("Encrypt without associated data = %v: want success or a clear refusal", err)
	}

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := kek.Encrypt(canceled, keyset, adA); !errors.Is(err, context.Canceled) || kms.Retryable(err) {
		t.Errorf("Encrypt with a canceled context = %v, want context.Canceled, not retryable", err)
	}
}

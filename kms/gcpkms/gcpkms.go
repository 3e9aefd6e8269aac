// Package gcpkms is a key-encryption key in Google Cloud KMS, through the
// Cloud KMS Go client (cloud.google.com/go/kms/apiv1), whose calls take a
// context. Tink's Google Cloud KMS integration has none, so this package
// uses the client directly.
//
// Associated data is sent as Cloud KMS's additional_authenticated_data. As
// Google recommends, every request carries CRC32C checksums and every
// response's checksums and "verified" flags are checked, so corruption in
// transit is detected on both sides.
//
// Errors are classified for kms: PERMISSION_DENIED, NOT_FOUND and
// FAILED_PRECONDITION are kms.ErrRefused; INVALID_ARGUMENT on decryption
// (tampered ciphertext, other associated data, other key) is
// kms.ErrAuthentication; UNAVAILABLE, RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED,
// INTERNAL and ABORTED are kms.ErrUnavailable and are retried by the
// configured policy. The client's own retries are turned off.
// When the caller's context ends, the error wraps kms.ErrUnavailable and the
// context's error, and is not retryable; a deadline of the client's own (the
// caller's context still live) wraps kms.ErrUnavailable and kms.ErrTimeout,
// and is retryable.
//
// Testing: no Cloud KMS emulator can be installed where fieldcrypt is
// built, so this package is tested against a local fake
// (kms/gcpkms/gcpkmsfake) that serves the real KeyManagementService gRPC
// API on a loopback port, driven by the real client. It has not been run
// against Google Cloud itself in this repository's tests.
package gcpkms

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"

	kmspb "cloud.google.com/go/kms/apiv1/kmspb"
	gax "github.com/googleapis/gax-go/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/fieldcrypt/fieldcrypt/kms"
)

// API is the part of *kms.KeyManagementClient the KEK uses.
type API interface {
	Encrypt(ctx context.Context, req *kmspb.EncryptRequest, opts ...gax.CallOption) (*kmspb.EncryptResponse, error)
	Decrypt(ctx context.Context, req *kmspb.DecryptRequest, opts ...gax.CallOption) (*kmspb.DecryptResponse, error)
}

// Config configures a Cloud KMS KEK.
type Config struct {
	// Client is a Cloud KMS client (kms.NewKeyManagementClient).
	Client API
	// KeyName is the CryptoKey's resource name:
	// projects/P/locations/L/keyRings/R/cryptoKeys/K.
	KeyName string
	// Retry is the retry policy; zero means kms.DefaultRetry.
	Retry kms.RetryPolicy
}

// KEK is a Cloud KMS CryptoKey. It is safe for concurrent use.
type KEK struct {
	client API
	name   string
	retry  kms.RetryPolicy
}

var _ kms.KEK = (*KEK)(nil)

// New validates cfg and returns the KEK.
func New(cfg Config) (*KEK, error) {
	if cfg.Client == nil {
		return nil, errors.New("gcpkms: Config.Client is required")
	}
	parts := strings.Split(cfg.KeyName, "/")
	if len(parts) != 8 || parts[0] != "projects" || parts[2] != "locations" || parts[4] != "keyRings" || parts[6] != "cryptoKeys" {
		return nil, errors.New("gcpkms: Config.KeyName must be projects/P/locations/L/keyRings/R/cryptoKeys/K")
	}
	retry := cfg.Retry
	if retry.Attempts == 0 {
		retry = kms.DefaultRetry
	}
	return &KEK{client: cfg.Client, name: cfg.KeyName, retry: retry}, nil
}

// ID returns "gcpkms:" followed by the key's resource name.
func (k *KEK) ID() string { return "gcpkms:" + k.name }

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc(b []byte) *wrapperspb.Int64Value {
	return wrapperspb.Int64(int64(crc32.Checksum(b, castagnoli)))
}

// noClientRetries leaves retrying to the KEK's policy.
var noClientRetries = gax.WithRetry(func() gax.Retryer { return nil })

var errCorrupted = kms.Classify(kms.ErrUnavailable, errors.New("Cloud KMS request or response corrupted in transit (CRC32C mismatch)"))

// MaxPlaintextSize is the largest plaintext Encrypt wraps: Cloud KMS Encrypt accepts at most 64 KiB (65,536 bytes) of plaintext.
const MaxPlaintextSize = 65536

// MaxPlaintextSize implements [kms.PlaintextLimiter].
func (k *KEK) MaxPlaintextSize() int { return MaxPlaintextSize }

// errTooLarge is returned, wrapped, for a plaintext the backend would refuse.
var errTooLarge = fmt.Errorf("plaintext larger than %d bytes", MaxPlaintextSize)

// Encrypt wraps plaintext. A plaintext longer than MaxPlaintextSize is
// refused (kms.ErrRefused) before any call to the backend.
func (k *KEK) Encrypt(ctx context.Context, plaintext, associatedData []byte) ([]byte, error) {
	if len(plaintext) > MaxPlaintextSize {
		return nil, k.fail("encrypt", kms.Classify(kms.ErrRefused, errTooLarge))
	}
	var out []byte
	err := k.retry.Do(ctx, func(ctx context.Context) error {
		resp, err := k.client.Encrypt(ctx, &kmspb.EncryptRequest{
			Name: k.name, Plaintext: plaintext, PlaintextCrc32C: crc(plaintext),
			AdditionalAuthenticatedData: associatedData, AdditionalAuthenticatedDataCrc32C: crc(associatedData),
		}, noClientRetries)
		if err != nil {
			return classify(ctx, err, false)
		}
		if !resp.GetVerifiedPlaintextCrc32C() || !resp.GetVerifiedAdditionalAuthenticatedDataCrc32C() ||
			resp.GetCiphertextCrc32C().GetValue() != crc(resp.GetCiphertext()).GetValue() {
			return errCorrupted
		}
		out = resp.GetCiphertext()
		return nil
	})
	if err != nil {
		return nil, k.fail("encrypt", err)
	}
	return out, nil
}

// Decrypt unwraps ciphertext.
func (k *KEK) Decrypt(ctx context.Context, ciphertext, associatedData []byte) ([]byte, error) {
	var out []byte
	err := k.retry.Do(ctx, func(ctx context.Context) error {
		resp, err := k.client.Decrypt(ctx, &kmspb.DecryptRequest{
			Name: k.name, Ciphertext: ciphertext, CiphertextCrc32C: crc(ciphertext),
			AdditionalAuthenticatedData: associatedData, AdditionalAuthenticatedDataCrc32C: crc(associatedData),
		}, noClientRetries)
		if err != nil {
			return classify(ctx, err, true)
		}
		if resp.GetPlaintextCrc32C().GetValue() != crc(resp.GetPlaintext()).GetValue() {
			return errCorrupted
		}
		out = resp.GetPlaintext()
		return nil
	})
	if err != nil {
		return nil, k.fail("decrypt", err)
	}
	return out, nil
}

func classify(ctx context.Context, err error, decrypting bool) error {
	if ctx.Err() != nil {
		// The caller's context ended: wrap both.
		return kms.Classify(kms.ErrUnavailable, ctx.Err())
	}
	if errors.Is(err, context.DeadlineExceeded) {
		// A deadline of the client's own, not the caller's: retryable.
		// (A gRPC DEADLINE_EXCEEDED status is unavailable below.)
		return kms.Timeout(err)
	}
	st, ok := status.FromError(err)
	if !ok {
		return kms.Classify(kms.ErrUnavailable, err)
	}
	msg := fmt.Errorf("Cloud KMS %s: %s", st.Code(), st.Message())
	switch st.Code() {
	case codes.InvalidArgument:
		if decrypting {
			return kms.Classify(kms.ErrAuthentication, msg)
		}
		return kms.Classify(kms.ErrRefused, msg)
	case codes.Unavailable, codes.ResourceExhausted, codes.DeadlineExceeded, codes.Internal, codes.Aborted, codes.Unknown:
		return kms.Classify(kms.ErrUnavailable, msg)
	}
	return kms.Classify(kms.ErrRefused, msg)
}

func (k *KEK) fail(op string, err error) error {
	return &kms.Error{Op: op, Backend: "gcpkms", KeyID: k.ID(), Err: err}
}

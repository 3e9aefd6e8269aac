// Package awskms is a key-encryption key in AWS Key Management Service,
// through the AWS SDK for Go v2 (github.com/aws/aws-sdk-go-v2/service/kms).
// Tink's own AWS KMS integration offers no context on its calls, so this
// package uses the SDK client directly.
//
// Associated data is bound with AWS KMS's encryption context: the KEK sends
// {"fieldcrypt-ad": base64(associated data)}, which KMS authenticates, so a
// wrapped key moved to another record fails to unwrap. Errors are classified
// for kms: access denied, disabled or missing keys are kms.ErrRefused; an
// invalid ciphertext (tampered, other context, other key) is
// kms.ErrAuthentication; throttling, KMS internal errors and network failures
// are kms.ErrUnavailable and are retried by the configured policy. The SDK's
// own retries are turned off so that only one policy applies.
// When the caller's context ends, the error wraps kms.ErrUnavailable and the
// context's error, and is not retryable; a deadline of the client's own (the
// caller's context still live) wraps kms.ErrUnavailable and kms.ErrTimeout,
// and is retryable.
//
// Testing: no AWS KMS emulator can be installed where fieldcrypt is built,
// so this package is tested against a local fake (kms/awskms/awskmsfake)
// that speaks AWS KMS's real wire protocol (JSON 1.1 over HTTP, the
// TrentService.Encrypt and TrentService.Decrypt targets), driven by the real
// SDK client. It has not been run against AWS itself in this repository's
// tests.
package awskms

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskms "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"

	"github.com/fieldcrypt/fieldcrypt/kms"
)

// API is the part of *kms.Client (AWS SDK v2) the KEK uses.
type API interface {
	Encrypt(ctx context.Context, in *awskms.EncryptInput, optFns ...func(*awskms.Options)) (*awskms.EncryptOutput, error)
	Decrypt(ctx context.Context, in *awskms.DecryptInput, optFns ...func(*awskms.Options)) (*awskms.DecryptOutput, error)
}

// ContextKey is the encryption context key that carries associated data.
const ContextKey = "fieldcrypt-ad"

// Config configures an AWS KMS KEK.
type Config struct {
	// Client is an AWS KMS client, such as kms.NewFromConfig(cfg).
	Client API
	// KeyID is the key's ARN (or an alias ARN). Required: decryption names
	// the key explicitly, so that a ciphertext of another key is refused.
	KeyID string
	// Retry is the retry policy; zero means kms.DefaultRetry.
	Retry kms.RetryPolicy
}

// KEK is an AWS KMS key. It is safe for concurrent use.
type KEK struct {
	client API
	keyID  string
	retry  kms.RetryPolicy
}

var _ kms.KEK = (*KEK)(nil)

// New validates cfg and returns the KEK.
func New(cfg Config) (*KEK, error) {
	if cfg.Client == nil {
		return nil, errors.New("awskms: Config.Client is required")
	}
	if !strings.HasPrefix(cfg.KeyID, "arn:") {
		return nil, errors.New("awskms: Config.KeyID must be a key or alias ARN")
	}
	retry := cfg.Retry
	if retry.Attempts == 0 {
		retry = kms.DefaultRetry
	}
	return &KEK{client: cfg.Client, keyID: cfg.KeyID, retry: retry}, nil
}

// ID returns "awskms:" followed by the key ARN.
func (k *KEK) ID() string { return "awskms:" + k.keyID }

func encryptionContext(ad []byte) map[string]string {
	if len(ad) == 0 {
		return nil
	}
	return map[string]string{ContextKey: base64.StdEncoding.EncodeToString(ad)}
}

// noSDKRetries leaves retrying to the KEK's policy.
func noSDKRetries(o *awskms.Options) { o.Retryer = aws.NopRetryer{} }

// MaxPlaintextSize is the largest plaintext Encrypt wraps: AWS KMS Encrypt accepts at most 4,096 bytes of plaintext.
const MaxPlaintextSize = 4096

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
	var out *awskms.EncryptOutput
	err := k.retry.Do(ctx, func(ctx context.Context) error {
		var err error
		out, err = k.client.Encrypt(ctx, &awskms.EncryptInput{
			KeyId: aws.String(k.keyID), Plaintext: plaintext, EncryptionContext: encryptionContext(associatedData),
		}, noSDKRetries)
		return classify(ctx, err)
	})
	if err != nil {
		return nil, k.fail("encrypt", err)
	}
	return out.CiphertextBlob, nil
}

// Decrypt unwraps ciphertext.
func (k *KEK) Decrypt(ctx context.Context, ciphertext, associatedData []byte) ([]byte, error) {
	var out *awskms.DecryptOutput
	err := k.retry.Do(ctx, func(ctx context.Context) error {
		var err error
		out, err = k.client.Decrypt(ctx, &awskms.DecryptInput{
			KeyId: aws.String(k.keyID), CiphertextBlob: ciphertext, EncryptionContext: encryptionContext(associatedData),
		}, noSDKRetries)
		return classify(ctx, err)
	})
	if err != nil {
		return nil, k.fail("decrypt", err)
	}
	return out.Plaintext, nil
}

func classify(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		// The caller's context ended: wrap both.
		return kms.Classify(kms.ErrUnavailable, ctx.Err())
	}
	if errors.Is(err, context.DeadlineExceeded) {
		// A deadline of the client's own (HTTP client timeout), not the
		// caller's: retryable.
		return kms.Timeout(err)
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		msg := fmt.Errorf("AWS KMS %s: %s", api.ErrorCode(), api.ErrorMessage())
		switch api.ErrorCode() {
		case "InvalidCiphertextException", "IncorrectKeyException":
			return kms.Classify(kms.ErrAuthentication, msg)
		case "ThrottlingException", "LimitExceededException", "KMSInternalException",
			"DependencyTimeoutException", "KeyUnavailableException", "ServiceUnavailableException":
			return kms.Classify(kms.ErrUnavailable, msg)
		}
		if api.ErrorFault() == smithy.FaultServer {
			return kms.Classify(kms.ErrUnavailable, msg)
		}
		return kms.Classify(kms.ErrRefused, msg)
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return kms.Classify(kms.ErrUnavailable, err)
	}
	// Transport failures the SDK wraps (connection refused, reset).
	return kms.Classify(kms.ErrUnavailable, err)
}

func (k *KEK) fail(op string, err error) error {
	return &kms.Error{Op: op, Backend: "awskms", KeyID: k.ID(), Err: err}
}

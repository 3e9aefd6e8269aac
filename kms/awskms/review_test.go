package awskms_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	sdk "github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"

	"github.com/fieldcrypt/fieldcrypt/kms"
	"github.com/fieldcrypt/fieldcrypt/kms/awskms"
)

// Regression tests for the 2026-11 security review, as for kms/vault: the
// caller's context ending (item 6 of the fix list) and a timeout of the
// client's own (L11).

// stubAPI fails every call the way mode says, and counts calls.
type stubAPI struct {
	mode  string // "block", "own-timeout" or "throttle"
	calls atomic.Int32
}

func (s *stubAPI) fail(ctx context.Context) error {
	s.calls.Add(1)
	switch s.mode {
	case "block": // AWS KMS never answers: the SDK returns when ctx ends
		<-ctx.Done()
		return fmt.Errorf("operation error KMS: Encrypt, %w", ctx.Err())
	case "own-timeout": // an http.Client or SDK timeout, not the caller's
		return fmt.Errorf("operation error KMS: Encrypt, https response error: %w", context.DeadlineExceeded)
	}
	return &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded", Fault: smithy.FaultClient}
}

func (s *stubAPI) Encrypt(ctx context.Context, _ *sdk.EncryptInput, _ ...func(*sdk.Options)) (*sdk.EncryptOutput, error) {
	return nil, s.fail(ctx)
}

func (s *stubAPI) Decrypt(ctx context.Context, _ *sdk.DecryptInput, _ ...func(*sdk.Options)) (*sdk.DecryptOutput, error) {
	return nil, s.fail(ctx)
}

// TestReviewVaultDeadlineSameForAWSKMS: when the caller's context ends
// while AWS KMS does not answer, or is cancelled while the KEK waits to
// retry a throttled call, the error wraps kms.ErrUnavailable and the
// context's error.
func TestReviewVaultDeadlineSameForAWSKMS(t *testing.T) {
	for _, mode := range []string{"block", "throttle"} {
		for _, end := range []string{"deadline", "cancel"} {
			if mode == "throttle" && end == "deadline" {
				continue // Do returns at once rather than wait past the deadline
			}
			t.Run(mode+"/"+end, func(t *testing.T) {
				stub := &stubAPI{mode: mode}
				k, err := awskms.New(awskms.Config{Client: stub, KeyID: arn, Retry: kms.RetryPolicy{Attempts: 3, Base: time.Hour, Max: time.Hour}})
				if err != nil {
					t.Fatal(err)
				}
				var ctx context.Context
				var cancel context.CancelFunc
				if end == "deadline" {
					ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
				} else {
					ctx, cancel = context.WithCancel(context.Background())
					time.AfterFunc(50*time.Millisecond, cancel)
				}
				defer cancel()
				for name, call := range map[string]func() error{
					"Encrypt": func() error { _, err := k.Encrypt(ctx, []byte("x"), []byte("ad")); return err },
					"Decrypt": func() error { _, err := k.Decrypt(ctx, []byte("x"), []byte("ad")); return err },
				} {
					err := call()
					<-ctx.Done()
					if !errors.Is(err, kms.ErrUnavailable) || !errors.Is(err, ctx.Err()) || !errors.As(err, new(*kms.Error)) || kms.Retryable(err) {
						t.Errorf("%s: %v; want a *kms.Error wrapping kms.ErrUnavailable and %v, not retryable", name, err, ctx.Err())
					}
				}
			})
		}
	}
}

// TestReviewL11AWSKMSOwnTimeoutIsRetryable: a deadline that is not the
// caller's (an HTTP client timeout) is a retryable kms.ErrTimeout.
func TestReviewL11AWSKMSOwnTimeoutIsRetryable(t *testing.T) {
	stub := &stubAPI{mode: "own-timeout"}
	k, _ := awskms.New(awskms.Config{Client: stub, KeyID: arn, Retry: kms.RetryPolicy{Attempts: 2, Base: time.Millisecond, Max: time.Millisecond}})
	_, err := k.Decrypt(context.Background(), []byte("x"), []byte("ad"))
	if !errors.Is(err, kms.ErrUnavailable) || !errors.Is(err, kms.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) || !kms.Retryable(err) {
		t.Errorf("%v: want a retryable kms.ErrTimeout", err)
	}
	if n := stub.calls.Load(); n != 2 {
		t.Errorf("%d calls, want 2 (the timeout retried)", n)
	}
}

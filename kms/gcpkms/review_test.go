package gcpkms_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/kms/apiv1/kmspb"
	"github.com/googleapis/gax-go/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/fieldcrypt/fieldcrypt/kms"
	"github.com/fieldcrypt/fieldcrypt/kms/gcpkms"
)

// Regression tests for the 2026-11 security review, as for kms/vault: the
// caller's context ending (item 6 of the fix list) and a timeout of the
// client's own (L11).

// stubAPI fails every call the way mode says, and counts calls.
type stubAPI struct {
	mode  string // "block", "own-timeout" or "unavailable"
	calls atomic.Int32
}

func (s *stubAPI) fail(ctx context.Context) error {
	s.calls.Add(1)
	switch s.mode {
	case "block": // Cloud KMS never answers: the client returns when ctx ends
		<-ctx.Done()
		return status.FromContextError(ctx.Err()).Err()
	case "own-timeout": // a deadline of the client library's own
		return fmt.Errorf("gax: %w", context.DeadlineExceeded)
	}
	return status.Error(codes.Unavailable, "service unavailable")
}

func (s *stubAPI) Encrypt(ctx context.Context, _ *kmspb.EncryptRequest, _ ...gax.CallOption) (*kmspb.EncryptResponse, error) {
	return nil, s.fail(ctx)
}

func (s *stubAPI) Decrypt(ctx context.Context, _ *kmspb.DecryptRequest, _ ...gax.CallOption) (*kmspb.DecryptResponse, error) {
	return nil, s.fail(ctx)
}

// TestReviewVaultDeadlineSameForGCPKMS: when the caller's context ends
// while Cloud KMS does not answer, or is cancelled while the KEK waits to
// retry an UNAVAILABLE, the error wraps kms.ErrUnavailable and the
// context's error.
func TestReviewVaultDeadlineSameForGCPKMS(t *testing.T) {
	for _, mode := range []string{"block", "unavailable"} {
		for _, end := range []string{"deadline", "cancel"} {
			if mode == "unavailable" && end == "deadline" {
				continue // Do returns at once rather than wait past the deadline
			}
			t.Run(mode+"/"+end, func(t *testing.T) {
				stub := &stubAPI{mode: mode}
				k, err := gcpkms.New(gcpkms.Config{Client: stub, KeyName: keyName, Retry: kms.RetryPolicy{Attempts: 3, Base: time.Hour, Max: time.Hour}})
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

// TestReviewL11GCPKMSOwnTimeoutIsRetryable: a deadline that is not the
// caller's is a retryable kms.ErrTimeout.
func TestReviewL11GCPKMSOwnTimeoutIsRetryable(t *testing.T) {
	stub := &stubAPI{mode: "own-timeout"}
	k, _ := gcpkms.New(gcpkms.Config{Client: stub, KeyName: keyName, Retry: kms.RetryPolicy{Attempts: 2, Base: time.Millisecond, Max: time.Millisecond}})
	_, err := k.Decrypt(context.Background(), []byte("x"), []byte("ad"))
	if !errors.Is(err, kms.ErrUnavailable) || !errors.Is(err, kms.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) || !kms.Retryable(err) {
		t.Errorf("%v: want a retryable kms.ErrTimeout", err)
	}
	if n := stub.calls.Load(); n != 2 {
		t.Errorf("%d calls, want 2 (the timeout retried)", n)
	}
}

package vault_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/fieldcrypt/fieldcrypt/kms"
	"github.com/fieldcrypt/fieldcrypt/kms/vault"
)

// Regression tests for the 2026-11 security review: a Vault that hangs or
// throttles while the caller's context ends (item 6 of the fix list), and a
// Vault slower than the client's own timeout (L11). No real Vault is
// needed: a fake Transit on 127.0.0.1 injects the faults.

// fakeVault is an HTTP server on 127.0.0.1 that answers every request with
// fault, and counts requests.
type fakeVault struct {
	srv  *httptest.Server
	hits atomic.Int32
}

// The faults.
const (
	hang     = "hang"      // never answers
	hangBody = "hang-body" // sends 200 and part of the body, then hangs
	throttle = "503"       // answers 503 at once
)

func newFakeVault(t *testing.T, fault string) *fakeVault {
	t.Helper()
	f := &fakeVault{}
	release := make(chan struct{})
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.hits.Add(1)
		wait := func() {
			select {
			case <-r.Context().Done(): // the client gave up
			case <-release:
			case <-time.After(20 * time.Second): // never hang the test run
			}
		}
		switch fault {
		case hang:
			wait()
		case hangBody:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			w.Write([]byte(`{"data":{"batch_results":[`))
			w.(http.Flusher).Flush()
			wait()
		case throttle:
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"errors":["Vault is sealed"]}`))
		}
	}))
	t.Cleanup(func() { close(release); f.srv.Close() })
	return f
}

func (f *fakeVault) kek(t *testing.T, retry kms.RetryPolicy, derived bool, timeout time.Duration) *vault.KEK {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.Address = f.srv.URL
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken("test-token")
	if timeout > 0 {
		c.SetClientTimeout(timeout)
	}
	k, err := vault.New(context.Background(), vault.Config{Client: c, Key: "k", Retry: retry, Derived: derived})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// kekCalls are every KEK call that reaches Vault.
var kekCalls = map[string]func(ctx context.Context, k *vault.KEK) error{
	"Encrypt": func(ctx context.Context, k *vault.KEK) error {
		_, err := k.Encrypt(ctx, []byte("keyset"), []byte("ad"))
		return err
	},
	"Decrypt": func(ctx context.Context, k *vault.KEK) error {
		_, err := k.Decrypt(ctx, []byte("vault:v1:AAAA"), []byte("ad"))
		return err
	},
	"EncryptBatch": func(ctx context.Context, k *vault.KEK) error {
		_, err := k.EncryptBatch(ctx, []kms.Request{{Data: []byte("a"), AssociatedData: []byte("1")}, {Data: []byte("b"), AssociatedData: []byte("2")}})
		return err
	},
	"DecryptBatch": func(ctx context.Context, k *vault.KEK) error {
		_, err := k.DecryptBatch(ctx, []kms.Request{{Data: []byte("vault:v1:AAAA"), AssociatedData: []byte("1")}})
		return err
	},
	"Rewrap": func(ctx context.Context, k *vault.KEK) error {
		_, err := k.Rewrap(ctx, []kms.Request{{Data: []byte("vault:v1:AAAA"), AssociatedData: []byte("1")}})
		return err
	},
	"LatestVersion": func(ctx context.Context, k *vault.KEK) error {
		_, err := k.LatestVersion(ctx)
		return err
	},
}

// TestReviewVaultDeadlineWrapsBoth: whenever the caller's context ends
// (deadline or cancel) while Vault hangs (before answering, or in the
// middle of its answer), or is cancelled while the KEK waits to retry a
// 503, every call fails with an error that
// wraps both kms.ErrUnavailable (as the kms docs promise) and the
// context's error, is a *kms.Error, and is not retryable.
func TestReviewVaultDeadlineWrapsBoth(t *testing.T) {
	for _, fault := range []string{hang, hangBody, throttle} {
		for _, end := range []string{"deadline", "cancel"} {
			if fault == throttle && end == "deadline" {
				// Do never starts a wait that would outlive the deadline:
				// it returns the 503 at once, the caller's context live.
				continue
			}
			for name, call := range kekCalls {
				t.Run(fault+"/"+end+"/"+name, func(t *testing.T) {
					t.Parallel()
					fv := newFakeVault(t, fault)
					// Backoff far longer than the test: a 503 makes the
					// KEK wait, and the context ends during that wait.
					retry := kms.RetryPolicy{Attempts: 3, Base: time.Hour, Max: time.Hour}
					k := fv.kek(t, retry, true, 0)
					var ctx context.Context
					var cancel context.CancelFunc
					if end == "deadline" {
						ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
					} else {
						ctx, cancel = context.WithCancel(context.Background())
						time.AfterFunc(100*time.Millisecond, cancel)
					}
					defer cancel()
					err := call(ctx, k)
					<-ctx.Done()
					var ke *kms.Error
					if !errors.Is(err, kms.ErrUnavailable) || !errors.Is(err, ctx.Err()) || !errors.As(err, &ke) || kms.Retryable(err) {
						t.Errorf("%v: want a *kms.Error wrapping kms.ErrUnavailable and %v, not retryable", err, ctx.Err())
					}
				})
			}
		}
	}
}

// TestReviewL11VaultClientTimeoutIsRetryable: when the Vault client's own
// timeout (api.Client.SetClientTimeout; 60 s by default) expires while the
// caller's context is live, the error is unavailable and a timeout, not a
// context error, so it is retryable, and the KEK's policy retries it.
func TestReviewL11VaultClientTimeoutIsRetryable(t *testing.T) {
	for _, fault := range []string{hang, hangBody} {
		t.Run(fault, func(t *testing.T) {
			t.Parallel()
			fv := newFakeVault(t, fault)
			k := fv.kek(t, kms.RetryPolicy{Attempts: 2, Base: time.Millisecond, Max: time.Millisecond}, false, 100*time.Millisecond)
			_, err := k.Encrypt(context.Background(), []byte("keyset"), []byte("ad"))
			if !errors.Is(err, kms.ErrUnavailable) || !errors.Is(err, kms.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) || !kms.Retryable(err) {
				t.Errorf("%v: want a retryable kms.ErrTimeout", err)
			}
			if !errors.As(err, new(*kms.Error)) {
				t.Errorf("%v is not a *kms.Error", err)
			}
			if n := fv.hits.Load(); n != 2 {
				t.Errorf("%d requests, want 2 (the timeout retried once)", n)
			}
		})
	}
}

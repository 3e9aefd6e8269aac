package kmstest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/fieldcrypt/fieldcrypt/kms"
	"github.com/fieldcrypt/fieldcrypt/kms/kmstest"
)

func TestCountsAndBatches(t *testing.T) {
	k := kmstest.New("fake:1")
	ctx := context.Background()
	ct, err := k.Encrypt(ctx, []byte("a"), []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := k.DecryptBatch(ctx, []kms.Request{{Data: ct, AssociatedData: []byte("ad")}, {Data: ct, AssociatedData: []byte("other")}})
	if err != nil {
		t.Fatal(err)
	}
	if string(res[0].Data) != "a" || res[0].Err != nil {
		t.Errorf("item 0 = %+v", res[0])
	}
	if !errors.Is(res[1].Err, kms.ErrAuthentication) {
		t.Errorf("item 1 with wrong AD = %v, want ErrAuthentication", res[1].Err)
	}
	if k.Calls(kmstest.OpEncrypt) != 1 || k.Calls(kmstest.OpDecryptBatch) != 1 || k.Items() != 3 {
		t.Errorf("counts: encrypt %d, decrypt batch %d, items %d", k.Calls(kmstest.OpEncrypt), k.Calls(kmstest.OpDecryptBatch), k.Items())
	}
}

func TestFaultsAndLatency(t *testing.T) {
	k := kmstest.New("fake:1")
	ctx := context.Background()
	k.FailAll(kms.ErrUnavailable)
	if _, err := k.Encrypt(ctx, []byte("a"), nil); !kms.Retryable(err) {
		t.Errorf("injected unavailable: %v is not retryable", err)
	}
	k.SetFault(nil)
	k.SetLatency(time.Hour)
	ctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := k.Encrypt(ctx, []byte("a"), nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("slow KEK past deadline = %v, want DeadlineExceeded", err)
	}
}

func TestConformance(t *testing.T) { kmstest.Conformance(t, kmstest.New("fake:1")) }

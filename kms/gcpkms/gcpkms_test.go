package gcpkms_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	cloudkms "cloud.google.com/go/kms/apiv1"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/fieldcrypt/fieldcrypt/kms"
	"github.com/fieldcrypt/fieldcrypt/kms/gcpkms"
	"github.com/fieldcrypt/fieldcrypt/kms/gcpkms/gcpkmsfake"
	"github.com/fieldcrypt/fieldcrypt/kms/kmstest"
)

// noAPI satisfies gcpkms.API for tests that never call it.
type noAPI struct{ gcpkms.API }

const keyName = "projects/p/locations/europe-west1/keyRings/fieldcrypt/cryptoKeys/kek"

// setup returns a KEK whose real Cloud KMS client talks to a local fake.
func setup(t *testing.T, name string) (*gcpkms.KEK, *gcpkmsfake.Fake) {
	t.Helper()
	fake, addr, stop, err := gcpkmsfake.Start(keyName)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	ctx := context.Background()
	client, err := cloudkms.NewKeyManagementClient(ctx,
		option.WithEndpoint(addr), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	k, err := gcpkms.New(gcpkms.Config{Client: client, KeyName: name, Retry: kms.RetryPolicy{Attempts: 3, Base: time.Millisecond, Max: 5 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	return k, fake
}

func TestConfigValidation(t *testing.T) {
	if _, err := gcpkms.New(gcpkms.Config{KeyName: keyName}); err == nil {
		t.Error("accepted a nil client")
	}
	k, _ := setup(t, keyName)
	if k.ID() != "gcpkms:"+keyName {
		t.Errorf("ID = %q", k.ID())
	}
	for _, bad := range []string{"projects/p/keys/k", keyName + "/cryptoKeyVersions/1", ""} {
		if _, err := gcpkms.New(gcpkms.Config{Client: noAPI{}, KeyName: bad}); err == nil || !strings.Contains(err.Error(), "KeyName") {
			t.Errorf("KeyName %q: %v, want it refused", bad, err)
		}
	}
}

func TestConformance(t *testing.T) {
	k, _ := setup(t, keyName)
	kmstest.Conformance(t, k)
}

func TestUnavailableIsRetriedAndUnknownKeyRefused(t *testing.T) {
	k, fake := setup(t, keyName)
	ctx := context.Background()
	fake.FailUnavailable(2)
	before := fake.Requests.Load()
	if _, err := k.Encrypt(ctx, []byte("x"), nil); err != nil {
		t.Fatalf("Encrypt through two UNAVAILABLEs = %v", err)
	}
	if n := fake.Requests.Load() - before; n != 3 {
		t.Errorf("%d requests, want 3 (the client's own retries must be off)", n)
	}
	fake.FailUnavailable(10)
	if _, err := k.Encrypt(ctx, []byte("x"), nil); !errors.Is(err, kms.ErrUnavailable) || !kms.Retryable(err) {
		t.Errorf("still unavailable after retries = %v", err)
	}
	fake.FailUnavailable(0)
	other, _ := setup(t, keyName+"-other")
	if _, err := other.Encrypt(ctx, []byte("x"), nil); !errors.Is(err, kms.ErrRefused) || kms.Retryable(err) {
		t.Errorf("unknown key = %v, want a non-retryable refusal", err)
	}
}

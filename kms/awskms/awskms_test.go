package awskms_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdk "github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/fieldcrypt/fieldcrypt/keystore/memory"
	"github.com/fieldcrypt/fieldcrypt/kms"
	"github.com/fieldcrypt/fieldcrypt/kms/awskms"
	"github.com/fieldcrypt/fieldcrypt/kms/awskms/awskmsfake"
	"github.com/fieldcrypt/fieldcrypt/pii"
)

const arn = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"

// setup returns a KEK whose real SDK client talks to a local fake.
func setup(t *testing.T) (*awskms.KEK, *awskmsfake.Fake) {
	t.Helper()
	fake := awskmsfake.New(arn)
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	client := sdk.New(sdk.Options{
		Region:       "eu-west-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret"}, nil
		}),
	})
	k, err := awskms.New(awskms.Config{Client: client, KeyID: arn, Retry: kms.RetryPolicy{Attempts: 3, Base: time.Millisecond, Max: 5 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	return k, fake
}

func TestConfigValidation(t *testing.T) {
	if _, err := awskms.New(awskms.Config{KeyID: arn}); err == nil {
		t.Error("accepted a nil client")
	}
	if _, err := awskms.New(awskms.Config{Client: sdk.New(sdk.Options{}), KeyID: "alias/x"}); err == nil {
		t.Error("accepted a key that is not an ARN")
	}
}

func TestRoundTripAndEncryptionContext(t *testing.T) {
	k, _ := setup(t)
	ctx := context.Background()
	ct, err := k.Encrypt(ctx, []byte("keyset"), []byte("record s.A"))
	if err != nil {
		t.Fatal(err)
	}
	pt, err := k.Decrypt(ctx, ct, []byte("record s.A"))
	if err != nil || string(pt) != "keyset" {
		t.Fatalf("Decrypt = %q, %v", pt, err)
	}
	for _, ad := range [][]byte{[]byte("record s.B"), nil} {
		if _, err := k.Decrypt(ctx, ct, ad); !errors.Is(err, kms.ErrAuthentication) || kms.Retryable(err) {
			t.Errorf("Decrypt with associated data %q = %v, want ErrAuthentication", ad, err)
		}
	}
	if k.ID() != "awskms:"+arn {
		t.Errorf("ID = %q", k.ID())
	}
}

func TestThrottlingIsRetriedAndFailuresClassified(t *testing.T) {
	k, fake := setup(t)
	ctx := context.Background()
	fake.Throttle(2)
	before := fake.Requests.Load()
	if _, err := k.Encrypt(ctx, []byte("x"), nil); err != nil {
		t.Fatalf("Encrypt through two throttles = %v", err)
	}
	if n := fake.Requests.Load() - before; n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
	fake.FailInternal(5)
	if _, err := k.Encrypt(ctx, []byte("x"), nil); !errors.Is(err, kms.ErrUnavailable) || !kms.Retryable(err) {
		t.Errorf("KMS internal errors past the retries = %v, want retryable unavailable", err)
	}
	fake.FailInternal(0)
	other, err := awskms.New(awskms.Config{Client: sdkClientFor(t, fake), KeyID: arn + "-other"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Encrypt(ctx, []byte("x"), nil); !errors.Is(err, kms.ErrRefused) || kms.Retryable(err) {
		t.Errorf("unknown key = %v, want a non-retryable refusal", err)
	}
}

func sdkClientFor(t *testing.T, fake *awskmsfake.Fake) *sdk.Client {
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	return sdk.New(sdk.Options{Region: "eu-west-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret"}, nil
		})})
}

func TestUnreachableFailsClosed(t *testing.T) {
	srv := httptest.NewServer(awskmsfake.New(arn))
	url := srv.URL
	srv.Close() // nothing listens there now
	client := sdk.New(sdk.Options{Region: "eu-west-1", BaseEndpoint: aws.String(url),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret"}, nil
		})})
	k, _ := awskms.New(awskms.Config{Client: client, KeyID: arn, Retry: kms.RetryPolicy{Attempts: 2, Base: time.Millisecond}})
	if _, err := pii.New(context.Background(), k, memory.New()); !errors.Is(err, kms.ErrUnavailable) {
		t.Errorf("pii.New with AWS KMS unreachable = %v, want ErrUnavailable", err)
	}
}

// TestWithPii seals and opens through pii with the AWS KMS KEK.
func TestWithPii(t *testing.T) {
	k, _ := setup(t)
	ctx := context.Background()
	p, err := pii.New(ctx, k, memory.New())
	if err != nil {
		t.Fatal(err)
	}
	type Person struct {
		ID   string `pii:"subject"`
		Name string `pii:"encrypt"`
	}
	v := Person{ID: "p1", Name: "Ada"}
	if err := p.Seal(ctx, &v); err != nil {
		t.Fatal(err)
	}
	if err := p.Open(ctx, &v); err != nil || v.Name != "Ada" {
		t.Fatalf("Open = %q, %v", v.Name, err)
	}
}

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
	"github.com/fieldcrypt/fieldcrypt/kms/kmstest"
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

func TestConformance(t *testing.T) {
	k, _ := setup(t)
	kmstest.Conformance(t, k)
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

package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"

	cloudkms "cloud.google.com/go/kms/apiv1"
	"github.com/aws/aws-sdk-go-v2/config"
	sdkkms "github.com/aws/aws-sdk-go-v2/service/kms"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/fieldcrypt/fieldcrypt/kms"
	"github.com/fieldcrypt/fieldcrypt/kms/awskms"
	"github.com/fieldcrypt/fieldcrypt/kms/gcpkms"
)

// Cloud KEKs: awskms:ARN and gcpkms:projects/P/locations/L/keyRings/R/cryptoKeys/K.
//
// The clients are built from each cloud's standard environment, as their
// own tools do:
//
//   - AWS: config.LoadDefaultConfig (AWS_PROFILE, AWS_ACCESS_KEY_ID and
//     AWS_SECRET_ACCESS_KEY, shared config files, SSO, instance and
//     container roles). The region is the key ARN's own. AWS_ENDPOINT_URL_KMS
//     (or AWS_ENDPOINT_URL) points the client elsewhere, as it does for
//     every recent AWS SDK and the AWS CLI.
//   - GCP: cloudkms.NewKeyManagementClient with Application Default
//     Credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud's ADC file, the
//     metadata server).
//
// envGCPEndpoint is for tests and emulators only: it points the Cloud KMS
// client at HOST:PORT over plaintext gRPC without credentials, and is
// refused unless HOST is a loopback address, so that it can never send a
// key to a remote server unencrypted.
const envGCPEndpoint = "FIELDCRYPT_GCPKMS_ENDPOINT"

// openAWSKMS opens an AWS KMS KEK for the key (or alias) ARN arn.
func openAWSKMS(ctx context.Context, arn string) (kms.KEK, error) {
	parts := strings.Split(arn, ":")
	if len(parts) < 6 || parts[0] != "arn" || parts[2] != "kms" || parts[3] == "" {
		return nil, usagef("KEK awskms:%s: want awskms:arn:aws:kms:REGION:ACCOUNT:key/ID (or alias/NAME)", arn)
	}
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(parts[3]))
	if err != nil {
		return nil, fmt.Errorf("awskms: loading the AWS configuration: %w", err)
	}
	return awskms.New(awskms.Config{Client: sdkkms.NewFromConfig(cfg), KeyID: arn})
}

// gcpKEK is a Cloud KMS KEK and the client it owns, closed by closeKEK.
type gcpKEK struct {
	*gcpkms.KEK
	client *cloudkms.KeyManagementClient
}

func (k gcpKEK) Close() { k.client.Close() }

// openGCPKMS opens a Cloud KMS KEK for the CryptoKey resource name.
func openGCPKMS(ctx context.Context, name string) (kms.KEK, error) {
	if !strings.HasPrefix(name, "projects/") {
		return nil, usagef("KEK gcpkms:%s: want gcpkms:projects/P/locations/L/keyRings/R/cryptoKeys/K", name)
	}
	var opts []option.ClientOption
	if ep := os.Getenv(envGCPEndpoint); ep != "" {
		host, _, err := net.SplitHostPort(ep)
		if err != nil {
			return nil, usagef("$%s: want HOST:PORT: %v", envGCPEndpoint, err)
		}
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return nil, usagef("$%s=%s: only a loopback address is accepted (it is for tests and emulators: plaintext gRPC, no credentials)", envGCPEndpoint, ep)
		}
		opts = append(opts, option.WithEndpoint(ep), option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	}
	client, err := cloudkms.NewKeyManagementClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("gcpkms: creating the Cloud KMS client: %w", err)
	}
	k, err := gcpkms.New(gcpkms.Config{Client: client, KeyName: name})
	if err != nil {
		client.Close()
		return nil, &usageError{err}
	}
	return gcpKEK{k, client}, nil
}

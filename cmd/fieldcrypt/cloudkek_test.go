package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fieldcrypt/fieldcrypt/keystore/sqlite"
	"github.com/fieldcrypt/fieldcrypt/kms/awskms/awskmsfake"
	"github.com/fieldcrypt/fieldcrypt/kms/gcpkms/gcpkmsfake"
	"github.com/fieldcrypt/fieldcrypt/pii"
)

// migrateToCloud seals 10 customers under the local KEK, moves the store
// to kekSpec with keys migrate, and checks through the CLI (status,
// verify-erased) and a Protector opened on kekSpec by the CLI's own
// openKEK that every record opens.
func migrateToCloud(t *testing.T, kekSpec string) {
	ctx := context.Background()
	dir := t.TempDir()
	store := "sqlite:" + filepath.Join(dir, "keys.db")
	localKEK := "local:" + filepath.Join(dir, "kek.json")
	p, done := app(t, dir)
	var cs []Customer
	for i := range 10 {
		cs = append(cs, Customer{ID: fmt.Sprint("c", i), Name: fmt.Sprint("name ", i)})
	}
	if err := p.SealAll(ctx, cs); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Forget(ctx, "c3"); err != nil {
		t.Fatal(err)
	}
	done()

	out, _ := fieldcrypt(t, "keys", "migrate", "--store", store, "--from", localKEK, "--to", kekSpec)
	if !strings.Contains(out, "10 done, 0 skipped, 0 failed") { // 9 subjects + the global keys
		t.Fatalf("migrate: %s", out)
	}
	out, _ = fieldcrypt(t, "keys", "status", "--store", store)
	if !strings.Contains(out, kekSpec) || !strings.Contains(out, "10 records") {
		t.Errorf("status after migrate:\n%s", out)
	}
	for subject, want := range map[string]string{"c1": "not erased", "c3": "erased at"} {
		if out, _ := fieldcrypt(t, "keys", "verify-erased", "--store", store, "--kek", kekSpec, subject); !strings.HasPrefix(out, want) {
			t.Errorf("verify-erased %s with %s: %q", subject, kekSpec, out)
		}
	}
	k, err := openKEK(ctx, kekSpec)
	if err != nil {
		t.Fatal(err)
	}
	defer closeKEK(k)
	s, err := sqlite.Open(ctx, filepath.Join(dir, "keys.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p2, err := pii.New(ctx, k, s)
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	got := cs[:3]
	if err := p2.OpenAll(ctx, got); err != nil {
		t.Fatalf("OpenAll with %s: %v", kekSpec, err)
	}
	if got[2].Name != "name 2" {
		t.Errorf("opened %q", got[2].Name)
	}
	// The old KEK no longer opens the store.
	if code, _, errOut := fieldcryptExit(t, "", "keys", "verify-erased", "--store", store, "--kek", localKEK, "c1"); code != 1 {
		t.Errorf("verify-erased with the old KEK: exit %d, %s", code, errOut)
	}
}

// TestAWSKMSKEK runs keys migrate to awskms:ARN against the AWS KMS fake on
// 127.0.0.1, reached through the AWS SDK's standard endpoint override
// (AWS_ENDPOINT_URL_KMS) and static credentials from the environment.
func TestAWSKMSKEK(t *testing.T) {
	const arn = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	srv := httptest.NewServer(awskmsfake.New(arn)) // 127.0.0.1
	defer srv.Close()
	dir := t.TempDir()
	t.Setenv("AWS_ENDPOINT_URL_KMS", srv.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	migrateToCloud(t, "awskms:"+arn)

	store := "sqlite:" + filepath.Join(dir, "x.db")
	fieldcrypt(t, "keystore", "migrate", "--store", store)
	if code, _, errOut := fieldcryptExit(t, "", "keys", "verify-erased", "--store", store, "--kek", "awskms:alias/x", "a"); code != 2 || !strings.Contains(errOut, "awskms:arn:aws:kms:REGION") {
		t.Errorf("awskms: without an ARN: exit %d %s", code, errOut)
	}
}

// TestGCPKMSKEK runs keys migrate to gcpkms:projects/... against the Cloud
// KMS fake on 127.0.0.1, reached through FIELDCRYPT_GCPKMS_ENDPOINT, which
// refuses any address that is not loopback.
func TestGCPKMSKEK(t *testing.T) {
	const name = "projects/p/locations/europe-west1/keyRings/fieldcrypt/cryptoKeys/kek"
	_, addr, stop, err := gcpkmsfake.Start(name)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	t.Setenv(envGCPEndpoint, addr)
	migrateToCloud(t, "gcpkms:"+name)

	store := "sqlite:" + filepath.Join(t.TempDir(), "x.db")
	fieldcrypt(t, "keystore", "migrate", "--store", store)
	for _, ep := range []string{"kms.example.com:443", "10.0.0.1:443", "nonsense"} {
		t.Setenv(envGCPEndpoint, ep)
		if code, _, errOut := fieldcryptExit(t, "", "keys", "verify-erased", "--store", store, "--kek", "gcpkms:"+name, "a"); code != 2 || !strings.Contains(errOut, envGCPEndpoint) {
			t.Errorf("%s=%s: exit %d %s", envGCPEndpoint, ep, code, errOut)
		}
	}
}

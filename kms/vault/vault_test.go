package vault_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/hashicorp/vault/api/auth/approle"

	"github.com/fieldcrypt/fieldcrypt/internal/vaulttest"
	"github.com/fieldcrypt/fieldcrypt/kms"
	"github.com/fieldcrypt/fieldcrypt/kms/kmstest"
	"github.com/fieldcrypt/fieldcrypt/kms/vault"
)

func newKEK(t *testing.T, c *api.Client, key string) *vault.KEK {
	t.Helper()
	k, err := vault.New(context.Background(), vault.Config{Client: c, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Close)
	return k
}

func TestConfigValidation(t *testing.T) {
	ctx := context.Background()
	c, _ := api.NewClient(api.DefaultConfig())
	for _, cfg := range []vault.Config{{Key: "k"}, {Client: c}, {Client: c, Key: "a/b"}} {
		if _, err := vault.New(ctx, cfg); err == nil {
			t.Errorf("New(%+v) accepted an invalid config", cfg)
		}
	}
}

func TestKeyVersion(t *testing.T) {
	for in, want := range map[string]int{"vault:v1:abc": 1, "vault:v12:x": 12, "vault:v0:x": 0, "vault:x": 0, "v1:abc": 0, "": 0} {
		got, ok := vault.KeyVersion([]byte(in))
		if got != want || ok != (want > 0) {
			t.Errorf("KeyVersion(%q) = %d, %v", in, got, ok)
		}
	}
}

// TestConformance runs the KEK contract against the real Vault: among
// others, it proves a wrong associated data fails there, so the binding is
// sent where Transit authenticates it, not in a parameter it ignores. And
// the same for a derived key, whose binding is the derivation context.
func TestConformance(t *testing.T) {
	c := vaulttest.Client(t)
	kmstest.Conformance(t, newKEK(t, c, vaulttest.NewKey(t, c)))
	t.Run("derived", func(t *testing.T) {
		k, err := vault.New(context.Background(), vault.Config{Client: c, Key: vaulttest.NewDerivedKey(t, c), Derived: true})
		if err != nil {
			t.Fatal(err)
		}
		kmstest.Conformance(t, k)
	})
}

func TestWrapRecordsTheKeyVersion(t *testing.T) {
	c := vaulttest.Client(t)
	k := newKEK(t, c, vaulttest.NewKey(t, c))
	ct, err := k.Encrypt(context.Background(), []byte("keyset"), []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := vault.KeyVersion(ct); !ok || v != 1 {
		t.Errorf("wrapped key version = %d, %v; want 1", v, ok)
	}
}

func TestBatchMapsItemErrorsToTheirItems(t *testing.T) {
	c := vaulttest.Client(t)
	k := newKEK(t, c, vaulttest.NewKey(t, c))
	ctx := context.Background()
	var reqs []kms.Request
	for i := range 6 {
		reqs = append(reqs, kms.Request{Data: []byte(fmt.Sprint("key-", i)), AssociatedData: []byte(fmt.Sprint("ad-", i))})
	}
	wrapped, err := k.EncryptBatch(ctx, reqs)
	if err != nil {
		t.Fatal(err)
	}
	var dec []kms.Request
	for i, w := range wrapped {
		if w.Err != nil {
			t.Fatal(w.Err)
		}
		ad := reqs[i].AssociatedData
		if i == 3 {
			ad = []byte("wrong")
		}
		dec = append(dec, kms.Request{Data: w.Data, AssociatedData: ad})
	}
	out, err := k.DecryptBatch(ctx, dec)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range out {
		if i == 3 {
			if !errors.Is(r.Err, kms.ErrAuthentication) {
				t.Errorf("item 3 (wrong AD) = %v, want ErrAuthentication", r.Err)
			}
			continue
		}
		if r.Err != nil || string(r.Data) != fmt.Sprint("key-", i) {
			t.Errorf("item %d = %q, %v", i, r.Data, r.Err)
		}
	}
}

// TestTransitRewrapIgnoresAssociatedData pins a property of the Vault we
// test against (v1.21.0): transit/rewrap accepts associated_data but does
// not use it, so a ciphertext bound to associated data cannot be rewrapped
// there. fieldcrypt therefore does not use Transit's rewrap (the KEK is not
// a kms.Rewrapper) and rewraps by decrypt + encrypt. If this test starts
// failing, Vault has fixed it and kms/vault can implement Rewrap.
func TestTransitRewrapIgnoresAssociatedData(t *testing.T) {
	c := vaulttest.Client(t)
	key := vaulttest.NewKey(t, c)
	k := newKEK(t, c, key)
	ctx := context.Background()
	ct, err := k.Encrypt(ctx, []byte("keyset"), []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	vaulttest.Rotate(t, c, key)
	_, err = c.Logical().WriteWithContext(ctx, "transit/rewrap/"+key, map[string]any{
		"ciphertext": string(ct), "associated_data": base64.StdEncoding.EncodeToString([]byte("ad")),
	})
	if err == nil || !strings.Contains(err.Error(), "message authentication failed") {
		t.Fatalf("Transit rewrap of an AD-bound ciphertext = %v; Vault may now support it", err)
	}
	if _, err := k.Rewrap(ctx, []kms.Request{{Data: ct, AssociatedData: []byte("ad")}}); !errors.Is(err, kms.ErrRefused) {
		t.Errorf("Rewrap with associated_data binding = %v, want a refusal that explains why", err)
	}
	// Rotation itself is fine: old ciphertexts still decrypt, new ones use
	// the new version.
	if _, err := k.Decrypt(ctx, ct, []byte("ad")); err != nil {
		t.Errorf("version 1 ciphertext after rotation: %v", err)
	}
	ct2, _ := k.Encrypt(ctx, []byte("keyset"), []byte("ad"))
	if v, _ := vault.KeyVersion(ct2); v != 2 {
		t.Errorf("after rotation Encrypt used version %d, want 2", v)
	}
	if v, err := k.LatestVersion(ctx); err != nil || v != 2 {
		t.Errorf("LatestVersion = %d, %v", v, err)
	}
}

func TestPermissionDeniedIsRefusedNotRetried(t *testing.T) {
	c := vaulttest.Client(t)
	key := vaulttest.NewKey(t, c)
	secret, err := c.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{"default"}, NoParent: true})
	if err != nil {
		t.Fatal(err)
	}
	weak := vaulttest.ClientAt(t, vaulttest.Addr(t), secret.Auth.ClientToken)
	k := newKEK(t, weak, key)
	start := time.Now()
	_, err = k.Encrypt(context.Background(), []byte("x"), nil)
	if !errors.Is(err, kms.ErrRefused) || kms.Retryable(err) || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("Encrypt without permission = %v, want a clear, non-retryable refusal", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Errorf("a refusal took %v: was it retried?", time.Since(start))
	}
}

// appRoleLogin enables an AppRole auth mount whose role may encrypt and
// decrypt with key, with the given token lifetimes, and returns a login
// method for it.
func appRoleLogin(t *testing.T, c *api.Client, key string, ttl, maxTTL string) api.AuthMethod {
	t.Helper()
	mount := "approle-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")) + "-" + key
	if err := c.Sys().EnableAuthWithOptions(mount, &api.EnableAuthOptions{Type: "approle"}); err != nil {
		t.Fatal(err)
	}
	policy := fmt.Sprintf(`path "transit/encrypt/%[1]s" { capabilities = ["update"] }
path "transit/decrypt/%[1]s" { capabilities = ["update"] }`, key)
	if err := c.Sys().PutPolicy("p-"+key, policy); err != nil {
		t.Fatal(err)
	}
	role := map[string]any{"token_policies": "p-" + key, "token_ttl": ttl}
	if maxTTL != "" {
		role["token_max_ttl"] = maxTTL
	}
	if _, err := c.Logical().Write("auth/"+mount+"/role/app", role); err != nil {
		t.Fatal(err)
	}
	rid, err := c.Logical().Read("auth/" + mount + "/role/app/role-id")
	if err != nil {
		t.Fatal(err)
	}
	sid, err := c.Logical().Write("auth/"+mount+"/role/app/secret-id", nil)
	if err != nil {
		t.Fatal(err)
	}
	login, err := approle.NewAppRoleAuth(rid.Data["role_id"].(string), &approle.SecretID{FromString: sid.Data["secret_id"].(string)}, approle.WithMountPath(mount))
	if err != nil {
		t.Fatal(err)
	}
	return login
}

// TestAppRoleLogin logs in with AppRole (a policy allowing only this key)
// and keeps working.
func TestAppRoleLogin(t *testing.T) {
	c := vaulttest.Client(t)
	key := vaulttest.NewKey(t, c)
	ctx := context.Background()
	anon := vaulttest.ClientAt(t, vaulttest.Addr(t), "")
	k, err := vault.New(ctx, vault.Config{Client: anon, Key: key, Login: appRoleLogin(t, c, key, "1m", "")})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	ct, err := k.Encrypt(ctx, []byte("via approle"), []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := k.Decrypt(ctx, ct, []byte("ad")); err != nil || string(pt) != "via approle" {
		t.Errorf("Decrypt via AppRole = %q, %v", pt, err)
	}
}

// TestReloginAfterMaxTTL gives AppRole tokens a 3-second maximum life:
// renewal must end and the KEK log in again, with no failed call.
func TestReloginAfterMaxTTL(t *testing.T) {
	c := vaulttest.Client(t)
	key := vaulttest.NewKey(t, c)
	ctx := context.Background()
	login := appRoleLogin(t, c, key, "1s", "3s")
	k, err := vault.New(ctx, vault.Config{Client: vaulttest.ClientAt(t, vaulttest.Addr(t), ""), Key: key, Login: login})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	deadline := time.Now().Add(7 * time.Second) // past two maximum lifetimes
	calls := 0
	for time.Now().Before(deadline) {
		if _, err := k.Encrypt(ctx, []byte("x"), nil); err != nil {
			t.Fatalf("call %d, %v after login: %v", calls, 7*time.Second-time.Until(deadline), err)
		}
		calls++
		time.Sleep(250 * time.Millisecond)
	}
}

// TestDerivedKeyBindsAndRewrapsInsideVault: with a derived Transit key the
// binding travels as the derivation context; a wrong one fails, and Rewrap
// brings keys to the newest version inside Vault.
func TestDerivedKeyBindsAndRewrapsInsideVault(t *testing.T) {
	c := vaulttest.Client(t)
	key := vaulttest.NewDerivedKey(t, c)
	k, err := vault.New(context.Background(), vault.Config{Client: c, Key: key, Derived: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ct, err := k.Encrypt(ctx, []byte("keyset"), []byte("record s.A"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Decrypt(ctx, ct, []byte("record s.B")); !errors.Is(err, kms.ErrAuthentication) {
		t.Errorf("Decrypt with another record's context = %v, want ErrAuthentication", err)
	}
	if _, err := k.Encrypt(ctx, []byte("x"), nil); !errors.Is(err, kms.ErrRefused) {
		t.Errorf("Encrypt without associated data on a derived key = %v, want refused", err)
	}
	// A batch whose middle item has no context: it fails alone, and the
	// others' results stay in their places.
	batch, err := k.DecryptBatch(ctx, []kms.Request{
		{Data: ct, AssociatedData: []byte("record s.A")}, {Data: ct}, {Data: ct, AssociatedData: []byte("record s.A")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if string(batch[0].Data) != "keyset" || !errors.Is(batch[1].Err, kms.ErrAuthentication) || string(batch[2].Data) != "keyset" {
		t.Errorf("mixed batch = %q/%v, %v, %q/%v", batch[0].Data, batch[0].Err, batch[1].Err, batch[2].Data, batch[2].Err)
	}
	vaulttest.Rotate(t, c, key)
	res, err := k.Rewrap(ctx, []kms.Request{{Data: ct, AssociatedData: []byte("record s.A")}, {Data: ct, AssociatedData: []byte("record s.B")}})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := vault.KeyVersion(res[0].Data); res[0].Err != nil || v != 2 {
		t.Fatalf("Rewrap = version %d, %v; want 2", v, res[0].Err)
	}
	if res[1].Err == nil {
		t.Error("Rewrap with another record's context succeeded")
	}
	if pt, err := k.Decrypt(ctx, res[0].Data, []byte("record s.A")); err != nil || string(pt) != "keyset" {
		t.Errorf("Decrypt of the rewrapped key = %q, %v", pt, err)
	}
}

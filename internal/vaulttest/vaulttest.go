// Package vaulttest gives tests a client for the real Vault server named by
// FIELDCRYPT_TEST_VAULT_ADDR and FIELDCRYPT_TEST_VAULT_TOKEN, which
// ./test.sh starts (internal/tools/testenv), and a fresh Transit key per
// test. Without them, tests skip and say why; a test with subtests calls
// Require at its top level, so that it is reported as SKIP, not PASS.
package vaulttest

import (
	"crypto/rand"
	"os"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"
)

// Environment variables naming the test server.
const (
	EnvAddr  = "FIELDCRYPT_TEST_VAULT_ADDR"
	EnvToken = "FIELDCRYPT_TEST_VAULT_TOKEN"
)

// Available reports whether a test server is configured.
func Available() bool {
	return os.Getenv(EnvAddr) != "" && os.Getenv(EnvToken) != ""
}

// Require skips the test unless a test server is configured. A test whose
// subtests use Vault calls it first, at its top level: had only the
// subtests skipped, `go test -v` would report the test itself as PASS.
func Require(t testing.TB) {
	t.Helper()
	if !Available() {
		t.Skipf("Vault not available: %s is not set (./test.sh builds and starts a real Vault)", EnvAddr)
	}
}

// Client returns a root client for the test server, or skips the test.
func Client(t testing.TB) *api.Client {
	t.Helper()
	Require(t)
	return ClientAt(t, os.Getenv(EnvAddr), os.Getenv(EnvToken))
}

// ClientAt returns a client for addr with token.
func ClientAt(t testing.TB, addr, token string) *api.Client {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.Address = addr
	cfg.MaxRetries = 0
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(token)
	return c
}

// Addr returns the test server's address (the test is skipped without one).
func Addr(t testing.TB) string {
	Client(t)
	return os.Getenv(EnvAddr)
}

// NewKey creates a fresh aes256-gcm96 Transit key and returns its name.
func NewKey(t testing.TB, c *api.Client) string {
	t.Helper()
	name := "k-" + strings.ToLower(rand.Text()[:12])
	if _, err := c.Logical().Write("transit/keys/"+name, map[string]any{"type": "aes256-gcm96"}); err != nil {
		t.Fatalf("vaulttest: create key: %v", err)
	}
	return name
}

// NewDerivedKey creates a fresh aes256-gcm96 Transit key with key
// derivation (derived=true) and returns its name.
func NewDerivedKey(t testing.TB, c *api.Client) string {
	t.Helper()
	name := "d-" + strings.ToLower(rand.Text()[:12])
	if _, err := c.Logical().Write("transit/keys/"+name, map[string]any{"type": "aes256-gcm96", "derived": true}); err != nil {
		t.Fatalf("vaulttest: create derived key: %v", err)
	}
	return name
}

// Rotate rotates a Transit key to a new version.
func Rotate(t testing.TB, c *api.Client, key string) {
	t.Helper()
	if _, err := c.Logical().Write("transit/keys/"+key+"/rotate", nil); err != nil {
		t.Fatalf("vaulttest: rotate: %v", err)
	}
}

package vault_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/fieldcrypt/fieldcrypt/internal/vaultcluster"
	"github.com/fieldcrypt/fieldcrypt/internal/vaulttest"
	"github.com/fieldcrypt/fieldcrypt/keystore/memory"
	"github.com/fieldcrypt/fieldcrypt/kms"
	"github.com/fieldcrypt/fieldcrypt/kms/vault"
	"github.com/fieldcrypt/fieldcrypt/pii"
)

// killAt is a KEK that starts fn in the background when the n-th batch
// wrap begins, so that the fault lands in the middle of a SealAll, while
// requests are in flight, not between calls.
type killAt struct {
	kms.Batcher
	n     int64
	calls atomic.Int64
	once  sync.Once
	fn    func()
}

func (k *killAt) EncryptBatch(ctx context.Context, reqs []kms.Request) ([]kms.Result, error) {
	if k.calls.Add(1) == k.n {
		k.once.Do(func() { go k.fn() })
	}
	return k.Batcher.EncryptBatch(ctx, reqs)
}

type haPerson struct {
	ID    string `pii:"subject"`
	Name  string `pii:"encrypt"`
	Email string `pii:"encrypt"`
}

// TestHAActiveNodeKilledMidSealAll: a SealAll of 10,000 new subjects, in
// caller batches of 1,000, against a three-node Raft cluster addressed by
// its node list (Config.Addresses, the active node first). The active node
// is killed (SIGKILL) during the fourth batch. Every error the caller sees
// is retryable (kms.ErrUnavailable, kms.Retryable), none is a refusal or
// an authentication failure, and a failed SealAll leaves its batch exactly
// as it was; the caller retries until every batch is sealed, and every
// record then opens with a fresh Protector (new unwraps by the new
// active node).
func TestHAActiveNodeKilledMidSealAll(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node Vault cluster")
	}
	c := vaultcluster.Start(t)
	t.Logf("cluster started in %v", c.Startup.Round(time.Millisecond))
	active := c.Active()
	if active < 0 {
		t.Fatal("no active node")
	}
	addrs := []string{c.Nodes[active].Addr}
	for i, n := range c.Nodes {
		if i != active {
			addrs = append(addrs, n.Addr)
		}
	}
	cfg := api.DefaultConfig()
	cfg.Address = addrs[0]
	cfg.Timeout = 10 * time.Second
	client, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	client.SetToken(c.RootToken)
	ctx := context.Background()
	kek, err := vault.New(ctx, vault.Config{Client: client, Key: vaultcluster.KeyName, Addresses: addrs})
	if err != nil {
		t.Fatal(err)
	}
	defer kek.Close()

	const subjects, batch = 10000, 1000
	killedAt := make(chan time.Time, 1)
	wrap := &killAt{Batcher: kek, n: 3*batch/pii.DefaultBatchSize + 2, fn: func() {
		at := time.Now()
		c.Kill(active)
		killedAt <- at
	}}
	store := memory.New()
	p, err := pii.New(ctx, wrap, store)
	if err != nil {
		t.Fatal(err)
	}

	want := make([]haPerson, subjects)
	for i := range want {
		want[i] = haPerson{ID: fmt.Sprintf("ha-%05d", i), Name: fmt.Sprintf("Name %d", i), Email: fmt.Sprintf("p%d@example.com", i)}
	}
	sealed := make([]haPerson, subjects)
	copy(sealed, want)

	var failures int
	var firstFailure, recovered time.Time
	seen := map[string]int{}
	began := time.Now()
	for start := 0; start < subjects; start += batch {
		part := sealed[start : start+batch]
		for {
			err := p.SealAll(ctx, part)
			if err == nil {
				if failures > 0 && recovered.IsZero() {
					recovered = time.Now()
				}
				break
			}
			failures++
			if firstFailure.IsZero() {
				firstFailure = time.Now()
			}
			if !errors.Is(err, kms.ErrUnavailable) || !kms.Retryable(err) {
				t.Fatalf("SealAll of batch %d: %v, want only retryable kms.ErrUnavailable errors", start/batch, err)
			}
			if errors.Is(err, kms.ErrAuthentication) || errors.Is(err, kms.ErrRefused) {
				t.Fatalf("SealAll of batch %d: %v", start/batch, err)
			}
			for i := range part {
				if part[i] != want[start+i] {
					t.Fatalf("failed SealAll changed record %d (half-sealed batch)", start+i)
				}
			}
			if seen[errorKind(err)]++; seen[errorKind(err)] == 1 {
				t.Logf("first %s error: %v", errorKind(err), err)
			}
			if time.Since(began) > 45*time.Second {
				t.Fatalf("not recovered within 45 s; last error: %v", err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	elapsed := time.Since(began)
	var killed time.Time
	select {
	case killed = <-killedAt:
	default:
		t.Fatal("the active node was never killed, or not before the run ended")
	}
	if c.Nodes[active].Running() {
		t.Fatal("the killed node is still running")
	}
	next := c.Active()
	t.Logf("SealAll of %d new subjects in %v; node %s killed at +%v; %d failed SealAll calls (each after the KEK's own %d attempts), first at +%v; first success after the kill at +%v (%v after the kill); now active: %s; KEK using %s; errors: %v",
		subjects, elapsed.Round(time.Millisecond), c.Nodes[active].ID, killed.Sub(began).Round(time.Millisecond),
		failures, kms.DefaultRetry.Attempts, since(began, firstFailure), since(began, recovered), since(killed, recovered),
		nodeID(c, next), kek.Address(), seen)
	if kek.Address() == c.Nodes[active].Addr {
		t.Error("the KEK still addresses the killed node")
	}

	// Every record opens, through a fresh Protector: each key is unwrapped
	// again, now by the new active node.
	p2, err := pii.New(ctx, kek, store)
	if err != nil {
		t.Fatal(err)
	}
	for start := 0; start < subjects; start += batch {
		part := make([]haPerson, batch)
		copy(part, sealed[start:start+batch])
		if err := p2.OpenAll(ctx, part); err != nil {
			t.Fatalf("OpenAll of batch %d after the failover: %v", start/batch, err)
		}
		for i := range part {
			if part[i] != want[start+i] {
				t.Fatalf("record %d opened to something else", start+i)
			}
		}
	}
}

// errorKind is a short, stable label for an error seen by the caller.
func errorKind(err error) string {
	switch {
	case errors.Is(err, kms.ErrTimeout):
		return "timeout"
	case errors.Is(err, kms.ErrUnavailable):
		var re *api.ResponseError
		if errors.As(err, &re) {
			return fmt.Sprintf("unavailable (HTTP %d)", re.StatusCode)
		}
		return "unavailable (no answer)"
	}
	return "other"
}

func since(from, to time.Time) time.Duration {
	if to.IsZero() {
		return 0
	}
	return to.Sub(from).Round(time.Millisecond)
}

func nodeID(c *vaultcluster.Cluster, i int) string {
	if i < 0 {
		return "none"
	}
	return c.Nodes[i].ID
}

// TestAddressesValidation: Config.Addresses must be http or https URLs
// with a host; a bad one fails New, naming its index, not its value.
func TestAddressesValidation(t *testing.T) {
	client, err := api.NewClient(api.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "127.0.0.1:8200", "ftp://127.0.0.1", "http://", "http://u:secret@127.0.0.1:8200", "http://127.0.0.1:8200?x=1", "unix:///tmp/vault.sock"} {
		_, err := vault.New(context.Background(), vault.Config{Client: client, Key: "k", Addresses: []string{"http://127.0.0.1:8200", bad}})
		if err == nil {
			t.Errorf("Addresses with %q accepted", bad)
			continue
		}
		if bad != "" && strings.Contains(err.Error(), bad) {
			t.Errorf("error %q quotes the address", err)
		}
	}
	k, err := vault.New(context.Background(), vault.Config{Client: client, Key: "k", Addresses: []string{"https://vault-1.example:8200/", "https://vault-2.example:8200"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := k.Address(); got != "https://vault-1.example:8200/" {
		t.Errorf("Address() = %q, want the first address", got)
	}
}

// TestAddressesFailover: with a dead address first, a call fails over to
// the next within the KEK's retries, and stays there; a refusal (a bad
// token) does not move the KEK to another address.
func TestAddressesFailover(t *testing.T) {
	root := vaulttest.Client(t)
	key := vaulttest.NewKey(t, root)
	dead := deadAddr(t)
	live := vaulttest.Addr(t)
	ctx := context.Background()
	k, err := vault.New(ctx, vault.Config{Client: vaulttest.ClientAt(t, dead, root.Token()), Key: key, Retry: fastRetry(), Addresses: []string{dead, live}})
	if err != nil {
		t.Fatal(err)
	}
	ct, err := k.Encrypt(ctx, []byte("key"), []byte("ad"))
	if err != nil {
		t.Fatalf("Encrypt with the first address dead: %v", err)
	}
	if k.Address() != live {
		t.Fatalf("Address() = %s, want %s", k.Address(), live)
	}
	if pt, err := k.Decrypt(ctx, ct, []byte("ad")); err != nil || string(pt) != "key" {
		t.Fatalf("Decrypt = %q, %v", pt, err)
	}

	bad, err := vault.New(ctx, vault.Config{Client: vaulttest.ClientAt(t, live, "not-a-token"), Key: key, Retry: fastRetry(), Addresses: []string{live, dead}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.Encrypt(ctx, []byte("key"), []byte("ad")); !errors.Is(err, kms.ErrRefused) {
		t.Fatalf("Encrypt with a bad token = %v, want kms.ErrRefused", err)
	}
	if bad.Address() != live {
		t.Errorf("a refusal moved the KEK to %s", bad.Address())
	}

	// All dead: retryable, after trying each.
	allDead, err := vault.New(ctx, vault.Config{Client: vaulttest.ClientAt(t, dead, root.Token()), Key: key, Retry: fastRetry(), Addresses: []string{dead, deadAddr(t)}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := allDead.Encrypt(ctx, []byte("key"), []byte("ad")); !kms.Retryable(err) {
		t.Fatalf("Encrypt with every address dead = %v, want a retryable error", err)
	}
}

// deadAddr is a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "http://" + ln.Addr().String()
	ln.Close()
	return addr
}

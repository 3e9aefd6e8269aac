package vaultcluster_test

import (
	"testing"
	"time"

	"github.com/fieldcrypt/fieldcrypt/internal/vaultcluster"
)

// TestFailover starts the cluster, kills the active node and sees another
// node become active: the helper's own promise.
func TestFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three Vault servers")
	}
	c := vaultcluster.Start(t)
	t.Logf("cluster of %d started in %v", len(c.Nodes), c.Startup.Round(time.Millisecond))
	active := c.Active()
	if active < 0 {
		t.Fatal("no active node after Start")
	}
	killed := time.Now()
	c.Kill(active)
	next, err := c.WaitActive(30*time.Second, active)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("killed %s; %s active after %v", c.Nodes[active].ID, c.Nodes[next].ID, time.Since(killed).Round(time.Millisecond))
}

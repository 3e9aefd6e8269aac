// Package vaultcluster starts, for tests, a three-node Vault cluster with
// integrated (Raft) storage on 127.0.0.1, from the vault binary named by
// VAULT_BIN (or on PATH; ./test.sh provides one). Without a binary, Start
// skips the test and says why.
//
// The nodes run in server mode, not dev mode: each has a config file with
// storage "raft" (performance_multiplier = 1, so that a lost leader is
// replaced within about two seconds instead of ten), a TCP listener with
// TLS disabled on a free loopback port, api_addr and cluster_addr, and
// disable_mlock. The first node is initialised with one key share and
// unsealed; the other two join it (sys/storage/raft/join) and are unsealed
// with the same key. Autopilot's server_stabilization_time and reconcile
// interval are lowered so that the followers become voters within seconds
// (instead of about ten), and Start returns only once all three are voters,
// one node is active, and Transit is enabled with the key KeyName. Killing
// the active node then leaves a quorum of two that elects a new leader.
//
// On a 2-core machine Start takes about 7 s and a new node is active about
// 2 s after the active one is killed (TestFailover logs both).
//
// Every node is stopped, and its directory removed, when the test ends.
package vaultcluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// KeyName is the Transit key Start creates (aes256-gcm96).
const KeyName = "ha"

// Nodes is the size of the cluster.
const Nodes = 3

// Node is one Vault server of the cluster.
type Node struct {
	ID   string // raft node_id: "n0", "n1", "n2"
	Addr string // API address, "http://127.0.0.1:port"

	dir         string
	clusterPort int
	cmd         *exec.Cmd
	done        chan struct{} // closed when the process has exited
	log         *os.File
}

// Cluster is a running three-node cluster.
type Cluster struct {
	Nodes     []*Node
	RootToken string
	// Startup is how long Start took, from the first process to a usable
	// cluster.
	Startup time.Duration

	bin       string
	unsealKey string
	http      *http.Client
}

// Bin returns the vault binary: VAULT_BIN, or vault on PATH, or "".
func Bin() string {
	if b := os.Getenv("VAULT_BIN"); b != "" {
		return b
	}
	if p, err := exec.LookPath("vault"); err == nil {
		return p
	}
	return ""
}

// Start starts a cluster for t, or skips t when there is no vault binary.
// The cluster is stopped when t ends.
func Start(t testing.TB) *Cluster {
	t.Helper()
	bin := Bin()
	if bin == "" {
		t.Skip("Vault cluster not available: no vault binary (set VAULT_BIN or put vault on PATH; ./test.sh provides one)")
	}
	began := time.Now()
	root, err := os.MkdirTemp("", "fieldcrypt-vaultcluster-")
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{bin: bin, http: &http.Client{Timeout: 10 * time.Second}}
	t.Cleanup(func() {
		c.stopAll()
		if t.Failed() {
			for _, n := range c.Nodes {
				if b, err := os.ReadFile(filepath.Join(n.dir, "vault.log")); err == nil {
					t.Logf("vaultcluster: log of %s:\n%s", n.ID, tail(b, 4000))
				}
			}
		}
		os.RemoveAll(root)
	})
	for i := range Nodes {
		apiPort, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		clusterPort, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		n := &Node{
			ID:          fmt.Sprintf("n%d", i),
			Addr:        fmt.Sprintf("http://127.0.0.1:%d", apiPort),
			dir:         filepath.Join(root, fmt.Sprintf("n%d", i)),
			clusterPort: clusterPort,
		}
		if err := os.MkdirAll(filepath.Join(n.dir, "raft"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(n.dir, "vault.hcl"), []byte(n.config(apiPort)), 0o600); err != nil {
			t.Fatal(err)
		}
		c.Nodes = append(c.Nodes, n)
	}
	if err := c.bootstrap(); err != nil {
		t.Fatalf("vaultcluster: %v", err)
	}
	c.Startup = time.Since(began)
	return c
}

func (n *Node) config(apiPort int) string {
	return fmt.Sprintf(`storage "raft" {
  path                   = %q
  node_id                = %q
  performance_multiplier = 1
  autopilot_reconcile_interval = "1s"
  autopilot_update_interval    = "500ms"
}
listener "tcp" {
  address         = "127.0.0.1:%d"
  cluster_address = "127.0.0.1:%d"
  tls_disable     = true
}
api_addr      = "http://127.0.0.1:%d"
cluster_addr  = "https://127.0.0.1:%d"
disable_mlock = true
ui            = false
log_level     = "warn"
`, filepath.Join(n.dir, "raft"), n.ID, apiPort, n.clusterPort, apiPort, n.clusterPort)
}

func (c *Cluster) bootstrap() error {
	for _, n := range c.Nodes {
		if err := c.startNode(n); err != nil {
			return err
		}
	}
	first := c.Nodes[0]
	var initOut struct {
		Keys      []string `json:"keys_base64"`
		RootToken string   `json:"root_token"`
	}
	if err := c.call(first, "PUT", "/v1/sys/init", map[string]any{"secret_shares": 1, "secret_threshold": 1}, &initOut); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	if len(initOut.Keys) != 1 || initOut.RootToken == "" {
		return errors.New("init returned no key or token")
	}
	c.unsealKey, c.RootToken = initOut.Keys[0], initOut.RootToken
	if err := c.call(first, "PUT", "/v1/sys/unseal", map[string]any{"key": c.unsealKey}, nil); err != nil {
		return fmt.Errorf("unseal %s: %w", first.ID, err)
	}
	if _, err := c.WaitActive(30*time.Second, -1); err != nil {
		return err
	}
	// Followers become voters after server_stabilization_time (10 s by
	// default): lower it, so that the cluster tolerates a lost node soon.
	if err := c.call(first, "POST", "/v1/sys/storage/raft/autopilot/configuration", map[string]any{
		"server_stabilization_time": "1s",
		"cleanup_dead_servers":      false,
	}, nil); err != nil {
		return fmt.Errorf("autopilot configuration: %w", err)
	}
	for _, n := range c.Nodes[1:] {
		var joined struct {
			Joined bool `json:"joined"`
		}
		if err := c.call(n, "POST", "/v1/sys/storage/raft/join", map[string]any{"leader_api_addr": first.Addr}, &joined); err != nil {
			return fmt.Errorf("join %s: %w", n.ID, err)
		}
		if !joined.Joined {
			return fmt.Errorf("join %s: not joined", n.ID)
		}
		if err := c.call(n, "PUT", "/v1/sys/unseal", map[string]any{"key": c.unsealKey}, nil); err != nil {
			return fmt.Errorf("unseal %s: %w", n.ID, err)
		}
	}
	if err := c.waitVoters(60 * time.Second); err != nil {
		return err
	}
	if err := c.call(first, "POST", "/v1/sys/mounts/transit", map[string]any{"type": "transit"}, nil); err != nil {
		return fmt.Errorf("enable transit: %w", err)
	}
	if err := c.call(first, "POST", "/v1/transit/keys/"+KeyName, map[string]any{"type": "aes256-gcm96"}, nil); err != nil {
		return fmt.Errorf("create key: %w", err)
	}
	return nil
}

func (c *Cluster) startNode(n *Node) error {
	log, err := os.Create(filepath.Join(n.dir, "vault.log"))
	if err != nil {
		return err
	}
	n.log = log
	n.cmd = exec.Command(c.bin, "server", "-config="+filepath.Join(n.dir, "vault.hcl"))
	n.cmd.Dir = n.dir
	n.cmd.Env = append(os.Environ(), "HOME="+n.dir, "VAULT_DISABLE_MLOCK=true")
	n.cmd.Stdout, n.cmd.Stderr = log, log
	if err := n.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", n.ID, err)
	}
	n.done = make(chan struct{})
	go func() { n.cmd.Wait(); close(n.done) }()
	// Wait until it answers at all (uninitialised or sealed).
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := c.http.Get(n.Addr + "/v1/sys/health")
		if err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-n.done:
			return fmt.Errorf("%s exited: %s", n.ID, readTail(n))
		case <-time.After(25 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s did not answer in 30s: %s", n.ID, readTail(n))
}

// Addrs returns every node's API address, in node order.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr
	}
	return out
}

// Active returns the index of the node that reports itself active
// (sys/health answers 200), or -1.
func (c *Cluster) Active() int {
	for i, n := range c.Nodes {
		if !n.Running() {
			continue
		}
		resp, err := c.http.Get(n.Addr + "/v1/sys/health")
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return i
		}
	}
	return -1
}

// WaitActive waits until a running node other than not (-1 for any) is
// active and returns its index.
func (c *Cluster) WaitActive(limit time.Duration, not int) (int, error) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if i := c.Active(); i >= 0 && i != not {
			return i, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return -1, fmt.Errorf("no active node within %v", limit)
}

// waitVoters waits until the Raft configuration has every node as a voter.
func (c *Cluster) waitVoters(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	var last string
	for time.Now().Before(deadline) {
		var out struct {
			Data struct {
				Config struct {
					Servers []struct {
						NodeID string `json:"node_id"`
						Voter  bool   `json:"voter"`
					} `json:"servers"`
				} `json:"config"`
			} `json:"data"`
		}
		if err := c.call(c.Nodes[0], "GET", "/v1/sys/storage/raft/configuration", nil, &out); err == nil {
			voters := 0
			for _, s := range out.Data.Config.Servers {
				if s.Voter {
					voters++
				}
			}
			if voters == Nodes {
				return nil
			}
			last = fmt.Sprintf("%+v", out.Data.Config.Servers)
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("the cluster did not have %d voters within %v (last: %s)", Nodes, limit, last)
}

// Running reports whether the node's process is alive.
func (n *Node) Running() bool {
	if n.done == nil {
		return false
	}
	select {
	case <-n.done:
		return false
	default:
		return true
	}
}

// Kill kills node i with SIGKILL (no graceful step-down) and waits for the
// process to exit.
func (c *Cluster) Kill(i int) {
	n := c.Nodes[i]
	if !n.Running() {
		return
	}
	n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.done
}

func (c *Cluster) stopAll() {
	for _, n := range c.Nodes {
		if !n.Running() {
			if n.log != nil {
				n.log.Close()
			}
			continue
		}
		n.cmd.Process.Signal(os.Interrupt)
		select {
		case <-n.done:
		case <-time.After(5 * time.Second):
			n.cmd.Process.Kill()
			<-n.done
		}
		n.log.Close()
	}
}

// call makes one request to node n with the root token (once known) and
// decodes a JSON answer into out, if given.
func (c *Cluster) call(n *Node, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, n.Addr+path, rd)
	if err != nil {
		return err
	}
	if c.RootToken != "" {
		req.Header.Set("X-Vault-Token", c.RootToken)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s on %s: %d %s", method, path, n.ID, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	if out != nil && len(b) > 0 {
		return json.Unmarshal(b, out)
	}
	return nil
}

func readTail(n *Node) string {
	b, _ := os.ReadFile(filepath.Join(n.dir, "vault.log"))
	return tail(b, 2000)
}

func tail(b []byte, max int) string {
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

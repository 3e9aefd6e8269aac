package main

import (
	"bufio"
	"crypto/rand"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

func findVault() string {
	if b := os.Getenv("VAULT_BIN"); b != "" {
		return b
	}
	if p, err := exec.LookPath("vault"); err == nil {
		return p
	}
	return ""
}

type vaultServer struct {
	cmd                  *exec.Cmd
	dir                  string
	addr, token, version string
}

// startVault starts `vault server -dev` on a free loopback port with a
// generated root token and enables the Transit engine at transit/.
func startVault(bin string) (*vaultServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "fieldcrypt-vault-")
	if err != nil {
		return nil, err
	}
	v := &vaultServer{dir: dir, addr: fmt.Sprintf("http://127.0.0.1:%d", port), token: "root-" + rand.Text()}
	out, _ := exec.Command(bin, "version").Output()
	if f := strings.Fields(string(out)); len(f) >= 2 {
		v.version = f[1]
	}
	log, err := os.Create(filepath.Join(dir, "vault.log"))
	if err != nil {
		return nil, err
	}
	v.cmd = exec.Command(bin, "server", "-dev",
		"-dev-listen-address=127.0.0.1:"+fmt.Sprint(port),
		"-dev-root-token-id="+v.token,
		"-dev-no-store-token")
	v.cmd.Dir = dir
	v.cmd.Env = append(os.Environ(), "HOME="+dir, "VAULT_DISABLE_MLOCK=true")
	v.cmd.Stdout, v.cmd.Stderr = log, log
	if err := v.cmd.Start(); err != nil {
		return nil, err
	}
	if err := v.waitReady(30 * time.Second); err != nil {
		v.stop()
		return nil, err
	}
	if err := v.request("POST", "/v1/sys/mounts/transit", `{"type":"transit"}`); err != nil {
		v.stop()
		return nil, fmt.Errorf("enable transit: %w", err)
	}
	return v, nil
}

func (v *vaultServer) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		resp, err := http.Get(v.addr + "/v1/sys/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(v.dir, "vault.log"))
	return fmt.Errorf("vault did not become ready in %v:\n%s", limit, log)
}

func (v *vaultServer) request(method, path, body string) error {
	req, err := http.NewRequest(method, v.addr+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("X-Vault-Token", v.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var b strings.Builder
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			b.WriteString(sc.Text())
		}
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b.String())
	}
	return nil
}

func (v *vaultServer) stop() {
	if v.cmd != nil && v.cmd.Process != nil {
		v.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { v.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			v.cmd.Process.Kill()
			<-done
		}
	}
	os.RemoveAll(v.dir)
}

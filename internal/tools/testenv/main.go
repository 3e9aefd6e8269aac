// Command testenv runs a command with the real servers the tests use:
//
//	go run ./internal/tools/testenv -- go test ./...
//
// PostgreSQL: if server binaries are installed (PG_BIN, pg_config --bindir,
// or /usr/lib/postgresql/*/bin), it runs initdb into a temporary directory,
// starts the server on 127.0.0.1 at a free port (as the "postgres" user when
// running as root, since the server refuses to run as root) and sets
// FIELDCRYPT_TEST_POSTGRES to its URL. Otherwise it says so; the PostgreSQL
// tests then skip with that message.
//
// Vault: if VAULT_BIN names a vault binary (./test.sh builds one from
// tools/vault when none is installed), or one is on PATH, it starts
// `vault server -dev` on 127.0.0.1 at a free port with a generated root
// token, enables Transit, and sets FIELDCRYPT_TEST_VAULT_ADDR and
// FIELDCRYPT_TEST_VAULT_TOKEN. Otherwise it says so; the Vault tests skip.
//
// Both servers are stopped, and their directories removed, when the
// command ends.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	envVar        = "FIELDCRYPT_TEST_POSTGRES"
	envVaultAddr  = "FIELDCRYPT_TEST_VAULT_ADDR"
	envVaultToken = "FIELDCRYPT_TEST_VAULT_TOKEN"
)

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: testenv -- command [args...]")
		os.Exit(2)
	}
	os.Exit(run(args))
}

func run(args []string) int {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = os.Environ()

	if os.Getenv(envVar) != "" {
		fmt.Printf("testenv: using the PostgreSQL given in %s\n", envVar)
	} else if bin := findBin(); bin == "" {
		fmt.Println("testenv: PostgreSQL server binaries not found (install Debian's postgresql package): PostgreSQL tests will SKIP")
	} else {
		c, err := start(bin)
		if err != nil {
			fmt.Fprintf(os.Stderr, "testenv: cannot start PostgreSQL from %s: %v\n", bin, err)
			return 1
		}
		defer c.stop()
		// Stop the server even if we are interrupted.
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		go func() { <-sig; c.stop(); os.Exit(1) }()
		fmt.Printf("testenv: PostgreSQL %s running on 127.0.0.1:%d (data in %s)\n", c.version, c.port, c.dir)
		cmd.Env = append(cmd.Env, envVar+"="+c.url())
	}
	if os.Getenv(envVaultAddr) != "" {
		fmt.Printf("testenv: using the Vault given in %s\n", envVaultAddr)
	} else if bin := findVault(); bin == "" {
		fmt.Println("testenv: no vault binary (set VAULT_BIN, put vault on PATH, or run ./test.sh, which builds one): Vault tests will SKIP")
	} else {
		v, err := startVault(bin)
		if err != nil {
			fmt.Fprintf(os.Stderr, "testenv: cannot start Vault from %s: %v\n", bin, err)
			return 1
		}
		defer v.stop()
		fmt.Printf("testenv: Vault %s running on %s\n", v.version, v.addr)
		cmd.Env = append(cmd.Env, envVaultAddr+"="+v.addr, envVaultToken+"="+v.token)
	}
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode()
		}
		fmt.Fprintln(os.Stderr, "testenv:", err)
		return 1
	}
	return 0
}

func findBin() string {
	if b := os.Getenv("PG_BIN"); b != "" {
		return b
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		b := strings.TrimSpace(string(out))
		if _, err := os.Stat(filepath.Join(b, "initdb")); err == nil {
			return b
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	return ""
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

type cluster struct {
	bin, dir, version string
	port              int
	cred              *syscall.Credential
}

func (c *cluster) url() string {
	return fmt.Sprintf("postgres://fieldcrypt@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

func start(bin string) (*cluster, error) {
	dir, err := os.MkdirTemp("", "fieldcrypt-pg-")
	if err != nil {
		return nil, err
	}
	c := &cluster{bin: bin, dir: dir}
	if os.Geteuid() == 0 {
		// PostgreSQL refuses to run as root: run it as "postgres".
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root and there is no postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
	}
	if c.port, err = freePort(); err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	if out, err := c.command("initdb", "-D", data, "-U", "fieldcrypt", "--auth=trust", "-E", "UTF8", "--no-sync").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -k %s -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200", c.port, dir)
	if out, err := c.command("pg_ctl", "-D", data, "-o", opts, "-l", filepath.Join(dir, "server.log"), "-w", "-t", "60", "start").CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "server.log"))
		return nil, fmt.Errorf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
	// "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
	out, _ := c.command("postgres", "--version").Output()
	if fields := strings.Fields(string(out)); len(fields) >= 3 {
		c.version = fields[2]
	}
	return c, nil
}

func (c *cluster) command(name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(context.Background(), filepath.Join(c.bin, name), args...)
	cmd.Dir = c.dir
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	return cmd
}

func (c *cluster) stop() {
	c.command("pg_ctl", "-D", filepath.Join(c.dir, "data"), "-m", "immediate", "-w", "-t", "30", "stop").Run()
	// Give the server's processes a moment to release the directory.
	time.Sleep(100 * time.Millisecond)
	os.RemoveAll(c.dir)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

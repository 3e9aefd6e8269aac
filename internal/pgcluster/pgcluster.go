// Package pgcluster starts, for tests, a PostgreSQL server of their own on
// 127.0.0.1 that they may restart or stop (the shared one of
// internal/tools/testenv must stay up for every other test). It uses the
// same initdb/pg_ctl approach as testenv: server binaries from PG_BIN,
// pg_config --bindir or /usr/lib/postgresql/*/bin, run as the "postgres"
// user when the test runs as root. Without them, Start skips the test and
// says why.
//
// The server is stopped, and its directory removed, when the test ends.
package pgcluster

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Server is a running PostgreSQL server.
type Server struct {
	// URL connects as the superuser "fieldcrypt" to database postgres.
	URL string

	bin, dir string
	port     int
	cred     *syscall.Credential
}

// Bin returns the directory of the server binaries, or "".
func Bin() string {
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
	sort.Slice(dirs, func(i, j int) bool { return major(dirs[i]) > major(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	return ""
}

func major(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// Start initialises and starts a server for t, or skips t when PostgreSQL
// is not installed.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Bin()
	if bin == "" {
		t.Skip("PostgreSQL server binaries not found (PG_BIN, pg_config, /usr/lib/postgresql/*/bin): cannot start a server to restart")
	}
	dir, err := os.MkdirTemp("", "fieldcrypt-pgcluster-")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{bin: bin, dir: dir}
	t.Cleanup(func() {
		s.ctl("-m", "immediate", "-w", "-t", "30", "stop").Run()
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(dir, "server.log")); err == nil {
				t.Logf("pgcluster: server log:\n%s", tail(b, 4000))
			}
		}
		os.RemoveAll(dir)
	})
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("pgcluster: running as root and there is no postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	s.URL = fmt.Sprintf("postgres://fieldcrypt@127.0.0.1:%d/postgres?sslmode=disable", s.port)
	if out, err := s.command("initdb", "-D", s.data(), "-U", "fieldcrypt", "--auth=trust", "-E", "UTF8", "--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("pgcluster: initdb: %v\n%s", err, out)
	}
	if err := s.Start(); err != nil {
		t.Fatalf("pgcluster: %v", err)
	}
	return s
}

func (s *Server) data() string { return filepath.Join(s.dir, "data") }

// opts keeps synchronous_commit on: with it off, a commit is acknowledged
// before its WAL is written, and a crash ("immediate" stop) loses key
// records whose data was already sealed. fsync off is safe for a process
// crash (the WAL is in the page cache), not for a machine's.
func (s *Server) opts() string {
	return fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -k %s -c fsync=off -c synchronous_commit=on -c full_page_writes=off -c max_connections=100", s.port, s.dir)
}

// Start starts the server (again) and waits until it accepts connections.
func (s *Server) Start() error {
	if out, err := s.ctl("-o", s.opts(), "-l", filepath.Join(s.dir, "server.log"), "-w", "-t", "60", "start").CombinedOutput(); err != nil {
		return fmt.Errorf("pg_ctl start: %v\n%s", err, out)
	}
	return nil
}

// Stop stops the server: mode "fast" (disconnect every client, shut down
// cleanly) or "immediate" (as a crash: recovery at the next start).
func (s *Server) Stop(mode string) error {
	if out, err := s.ctl("-m", mode, "-w", "-t", "60", "stop").CombinedOutput(); err != nil {
		return fmt.Errorf("pg_ctl stop: %v\n%s", err, out)
	}
	return nil
}

// Restart stops the server with mode and starts it again on the same port,
// returning how long it was down.
func (s *Server) Restart(mode string) (time.Duration, error) {
	began := time.Now()
	if err := s.Stop(mode); err != nil {
		return 0, err
	}
	err := s.Start()
	return time.Since(began), err
}

func (s *Server) ctl(args ...string) *exec.Cmd {
	return s.command("pg_ctl", append([]string{"-D", s.data()}, args...)...)
}

func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(s.bin, name), args...)
	cmd.Dir = s.dir
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	return cmd
}

func tail(b []byte, max int) string {
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}

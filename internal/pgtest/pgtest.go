// Package pgtest gives tests an empty PostgreSQL schema of their own on the
// server named by FIELDCRYPT_TEST_POSTGRES, which ./test.sh sets by starting
// a throwaway cluster (internal/tools/testenv). Without it, tests skip and
// say why.
package pgtest

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// EnvVar names the server tests run against.
const EnvVar = "FIELDCRYPT_TEST_POSTGRES"

// Server returns the server URL, or skips the test.
func Server(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(EnvVar)
	if dsn == "" {
		t.Skipf("PostgreSQL not available: %s is not set (./test.sh starts a throwaway server when PostgreSQL is installed)", EnvVar)
	}
	return dsn
}

// Schema creates a new, empty schema on the test server and returns a URL
// whose connections use it; the schema is dropped when the test ends.
func Schema(t testing.TB) string {
	t.Helper()
	server := Server(t)
	ctx := context.Background()
	name := "t_" + strings.ToLower(rand.Text()[:12])
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+name); err != nil {
		t.Fatalf("pgtest: create schema: %v", err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), server)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		c.Exec(context.Background(), `DROP SCHEMA `+name+` CASCADE`)
	})
	u, err := url.Parse(server)
	if err != nil {
		t.Fatalf("pgtest: %s is not a URL: %v", EnvVar, err)
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}

// Exec runs one statement on the test server (for fault injection, such
// as terminating another connection).
func Exec(t testing.TB, sql string, args ...any) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, Server(t))
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("pgtest: %s: %v", fmt.Sprint(sql), err)
	}
}

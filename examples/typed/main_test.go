package main

import (
	"context"
	"strings"
	"testing"

	"github.com/fieldcrypt/fieldcrypt/internal/pgtest"
)

const want = "opened: Ada Lovelace, born 1815-12-10, salary 120000, remote true, photo 4 bytes, email ada@example.com, team analytics\n"

func check(t *testing.T, out string) {
	t.Helper()
	if !strings.Contains(out, "INSERT before Seal refused: true\n") || !strings.Contains(out, "stored salary column: fc1a.") || !strings.HasSuffix(out, want) {
		t.Errorf("output:\n%s", out)
	}
	if strings.Contains(out[:strings.Index(out, "opened:")], "120000") {
		t.Error("the plaintext salary was printed before Open")
	}
}

// TestTypedSQLite runs the example twice on one directory (the second run
// updates the first run's row).
func TestTypedSQLite(t *testing.T) {
	dir := t.TempDir()
	for range 2 {
		var b strings.Builder
		if err := run(context.Background(), &b, dir, ""); err != nil {
			t.Fatal(err)
		}
		check(t, b.String())
	}
}

func TestTypedPostgres(t *testing.T) {
	dsn := pgtest.Schema(t)
	var b strings.Builder
	if err := run(context.Background(), &b, t.TempDir(), dsn); err != nil {
		t.Fatal(err)
	}
	check(t, b.String())
}

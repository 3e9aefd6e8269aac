package main

import (
	"context"
	"database/sql"
	"os"
	"testing"

	"github.com/fieldcrypt/fieldcrypt/internal/pgtest"
)

// quiet sends the program's output to /dev/null for the test's duration.
func quiet(t *testing.T) {
	t.Helper()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = devnull
	t.Cleanup(func() { os.Stdout = stdout; devnull.Close() })
}

// TestExampleRunsSQLite keeps `go run ./examples/search` working: run
// checks that every lookup finds its customer and that a forgotten one is
// no longer returned. It runs twice on the same directory (the second run
// meets the first one's key file and key store).
func TestExampleRunsSQLite(t *testing.T) {
	quiet(t)
	dir := t.TempDir()
	for range 2 {
		if err := run(context.Background(), Config{Rows: 300, Dir: dir}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestExampleRunsPostgres runs the example against PostgreSQL and checks
// that it dropped the schema it created.
func TestExampleRunsPostgres(t *testing.T) {
	server := pgtest.Server(t)
	quiet(t)
	db, err := sql.Open("pgx", server)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	schemas := func() (n int) {
		t.Helper()
		if err := db.QueryRow(`SELECT count(*) FROM information_schema.schemata WHERE schema_name LIKE 'fieldcrypt_search_%'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := schemas()
	if err := run(context.Background(), Config{Rows: 300, Postgres: server, Dir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	if after := schemas(); after != before {
		t.Errorf("schemas named fieldcrypt_search_*: %d before the run, %d after: the example left its schema behind", before, after)
	}
}

func TestRunRefusesNoRows(t *testing.T) {
	if err := run(context.Background(), Config{Rows: 0}); err == nil {
		t.Fatal("run with 0 rows: no error")
	}
}

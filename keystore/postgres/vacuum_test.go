package postgres_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/fieldcrypt/fieldcrypt/internal/pgtest"
	"github.com/fieldcrypt/fieldcrypt/keystore"
)

// TestReviewL14VacuumRemovesErasedKeyFromHeap: after Delete, the erased
// wrapped key stays in the table's heap file (as a dead row version) until
// a vacuum; after Vacuum it is in no file of the database. Records that
// live on beside it on the same page do not keep it either.
func TestReviewL14VacuumRemovesErasedKeyFromHeap(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Schema(t)
	s := open(t, dsn)
	// The wrapped key repeats a unique unit; any copy of one unit, even of
	// a part of the key, counts as a trace.
	unit := []byte("SHRED-ME-" + rand.Text() + "-")
	marker := bytes.Repeat(unit, 300/len(unit)+1) // inline in the heap: below the TOAST threshold
	for _, r := range []keystore.Record{
		{ID: "before", KEKID: "k", Wrapped: []byte("bystander-one")},
		{ID: "victim", KEKID: "k", Wrapped: marker},
		{ID: "after", KEKID: "k", Wrapped: []byte("bystander-two")},
	} {
		if _, _, err := s.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var dataDir, heap, dbDir string
	if err := conn.QueryRow(ctx, `SELECT current_setting('data_directory'), pg_relation_filepath('fieldcrypt_keys'),
		'base/' || (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&dataDir, &heap, &dbDir); err != nil {
		t.Fatal(err)
	}
	checkpoint := func() {
		t.Helper()
		if _, err := conn.Exec(ctx, `CHECKPOINT`); err != nil {
			t.Fatal(err)
		}
	}
	// filesHolding lists the files under dir that contain the marker.
	filesHolding := func(dir string) []string {
		t.Helper()
		var found []string
		err := filepath.WalkDir(filepath.Join(dataDir, dir), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			if os.IsNotExist(err) {
				return nil // removed while we walked
			}
			if os.IsPermission(err) {
				t.Skipf("cannot read the server's files: %v", err)
			}
			if err != nil {
				return err
			}
			if bytes.Contains(b, unit) {
				found = append(found, p)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return found
	}
	checkpoint()
	if _, err := os.Stat(filepath.Join(dataDir, heap)); err != nil {
		t.Skipf("the server's data directory is not readable here: %v", err)
	}
	if files := filesHolding(heap); len(files) == 0 {
		t.Fatal("the wrapped key never reached the heap file: the test would prove nothing")
	}
	if _, err := s.Delete(ctx, keystore.Tombstone{ID: "victim", Reason: "request"}); err != nil {
		t.Fatal(err)
	}
	checkpoint()
	if files := filesHolding(heap); len(files) == 0 {
		t.Fatal("the erased key left the heap file without Vacuum: the test would prove nothing")
	}
	if err := s.Vacuum(ctx); err != nil {
		t.Fatalf("Vacuum = %v", err)
	}
	if files := filesHolding(dbDir); len(files) > 0 {
		t.Errorf("after Vacuum, the erased wrapped key is still in %q", files)
	}
	for _, id := range []string{"before", "after"} {
		if _, err := s.Get(ctx, id); err != nil {
			t.Errorf("Get(%s) after Vacuum = %v", id, err)
		}
	}
	// What Vacuum cannot reach: the write-ahead log (and so its archives).
	t.Logf("WAL files still holding the erased wrapped key: %d", len(filesHolding("pg_wal")))
}

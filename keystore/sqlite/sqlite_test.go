package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fieldcrypt/fieldcrypt/keystore"
	"github.com/fieldcrypt/fieldcrypt/keystore/sqlite"
	"github.com/fieldcrypt/fieldcrypt/keystore/storetest"
)

func open(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newStore(t *testing.T) keystore.Store { return open(t, filepath.Join(t.TempDir(), "keys.db")) }

func restore(t *testing.T, s keystore.Store, rec keystore.Record) {
	sqlite.Restore(t, s.(*sqlite.Store), rec)
}

func TestConformance(t *testing.T) {
	storetest.Run(t, newStore, storetest.WithRestore(restore))
}

// TestReviewH1UpdateAcrossErasure: an Update of a record read before
// Delete + Readmit + Create fails with ErrConflict.
func TestReviewH1UpdateAcrossErasure(t *testing.T) {
	storetest.Run(t, newStore, storetest.Only("UpdateAcrossErasure"))
}

// TestReopen checks that records and tombstones survive closing the database
// and that opening an existing database does not re-run its migrations.
func TestReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keys.db")
	s := open(t, path)
	if _, _, err := s.Create(ctx, keystore.Record{ID: "kept", KEKID: "k", Wrapped: []byte("w"), KeyIDs: []uint32{1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctx, keystore.Tombstone{ID: "erased", Reason: "request"}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = open(t, path)
	if r, err := s.Get(ctx, "kept"); err != nil || string(r.Wrapped) != "w" {
		t.Errorf("after reopen, Get = %+v, %v", r, err)
	}
	if _, err := s.Get(ctx, "erased"); err != keystore.ErrTombstoned {
		t.Errorf("after reopen, tombstone lost: Get = %v", err)
	}
}

// TestDeletedKeyLeavesNoTrace checks that, with secure_delete and the
// checkpoint after deletion, the bytes of a deleted wrapped key are in
// neither the database file nor its write-ahead log.
func TestDeletedKeyLeavesNoTrace(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "keys.db")
	s := open(t, path)
	marker := bytes.Repeat([]byte("SHRED-ME-"), 40)
	if _, _, err := s.Create(ctx, keystore.Record{ID: "victim", KEKID: "k", Wrapped: marker}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Create(ctx, keystore.Record{ID: "bystander", KEKID: "k", Wrapped: []byte("keep")}); err != nil {
		t.Fatal(err)
	}
	if !filesContain(t, dir, marker) {
		t.Fatal("the marker was never written; the test would prove nothing")
	}
	if _, err := s.Delete(ctx, keystore.Tombstone{ID: "victim", Reason: "request"}); err != nil {
		t.Fatal(err)
	}
	if filesContain(t, dir, marker) {
		t.Error("the deleted wrapped key is still in the database files")
	}
}

func filesContain(t *testing.T, dir string, marker []byte) bool {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, marker) {
			return true
		}
	}
	return false
}

// TestReceiptsAreAppendOnly: the database itself refuses to change or
// remove a receipt, whoever asks.
func TestReceiptsAreAppendOnly(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keys.db")
	s := open(t, path)
	if _, err := s.Delete(ctx, keystore.Tombstone{ID: "gone", Reason: "request"}); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, stmt := range []string{`UPDATE fieldcrypt_receipts SET reason = 'x'`, `DELETE FROM fieldcrypt_receipts`} {
		if _, err := db.ExecContext(ctx, stmt); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v, want refused as append-only", stmt, err)
		}
	}
	if rs, _ := s.Receipts(ctx, keystore.ReceiptQuery{Limit: 10}); len(rs) != 1 || rs[0].Reason != "request" {
		t.Errorf("receipts after the attempts = %+v", rs)
	}
}

package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fieldcrypt/fieldcrypt/keystore"
	"github.com/fieldcrypt/fieldcrypt/keystore/sqlite"
)

// TestRightsHistoriesAreAppendOnly: the database itself refuses to change
// or remove an entry of the hold, request or consent history.
func TestRightsHistoriesAreAppendOnly(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keys.db")
	s := open(t, path)
	if _, err := s.Hold(ctx, "a", keystore.HoldInfo{Reference: "CASE-1", By: "legal"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendRequest(ctx, keystore.RequestEvent{ID: "a", Action: keystore.RequestReceived, By: "dpo", Ticket: "T-1", Deadline: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetConsent(ctx, keystore.ConsentChange{ID: "a", Purpose: "marketing", Grant: true, Actor: "web"}); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, table := range []string{"fieldcrypt_hold_history", "fieldcrypt_requests", "fieldcrypt_consent_history"} {
		for _, stmt := range []string{`UPDATE ` + table + ` SET id = 'x'`, `DELETE FROM ` + table} {
			if _, err := db.ExecContext(ctx, stmt); err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: %v, want refused as append-only", stmt, err)
			}
		}
	}
}

// TestMigrationToRights: a version-3 store (before holds, requests and
// consent) is upgraded on Open, keeping its records, and then holds.
func TestMigrationToRights(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keys.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range sqlite.Migrations[:3] {
		if _, err := db.ExecContext(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.ExecContext(ctx, `PRAGMA user_version = 3`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO fieldcrypt_keys (id, kek_id, wrapped, key_ids, version, created_us, updated_us, retain_until_us, incarnation) VALUES ('old', 'k', x'01', '1', 1, 1, 1, 0, 'inc')`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if len(sqlite.Migrations) != 6 {
		t.Fatalf("schema version %d, want 6", len(sqlite.Migrations))
	}
	s := open(t, path)
	if v := sqlite.Pragma(t, s, "user_version"); v != "6" {
		t.Errorf("user_version = %s, want 6", v)
	}
	if _, err := s.Get(ctx, "old"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Hold(ctx, "old", keystore.HoldInfo{Reference: "CASE-1", By: "legal"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctx, keystore.Tombstone{ID: "old", Reason: "request"}); !strings.Contains(errString(err), "legal hold") {
		t.Errorf("Delete of a held record after the migration = %v", err)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"

	"github.com/fieldcrypt/fieldcrypt/keystore"
	"github.com/fieldcrypt/fieldcrypt/keystore/sqlite"
)

// listDir returns the names in dir, sorted.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestReviewL8PathIsTakenLiterally: a path is a file name and nothing else.
// Characters that mean something in an SQLite URI (? # %) neither select
// another file nor set options: "keys.db?_pragma=secure_delete=0&x=" once
// opened keys.db with secure_delete off.
func TestReviewL8PathIsTakenLiterally(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{
		"keys.db?_pragma=secure_delete=0&x=",
		"keys.db?_pragma=journal_mode(DELETE)",
		"a#b.db",
		"c%3Fd.db", // would be decoded to "c?d.db"
		"100%.db",
		"mode=memory?x",
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			s := open(t, filepath.Join(dir, name))
			if _, _, err := s.Create(ctx, keystore.Record{ID: "k", KEKID: "k", Wrapped: []byte("w")}); err != nil {
				t.Fatal(err)
			}
			if got := sqlite.Pragma(t, s, "secure_delete"); got != "1" {
				t.Errorf("secure_delete = %s, want 1", got)
			}
			if got := sqlite.Pragma(t, s, "journal_mode"); got != "wal" {
				t.Errorf("journal_mode = %s, want wal", got)
			}
			files := listDir(t, dir)
			if !slices.Contains(files, name) {
				t.Errorf("files in the directory: %q; want %q", files, name)
			}
			for _, f := range files {
				if f != name && f != name+"-wal" && f != name+"-shm" {
					t.Errorf("Open(%q) also created %q", name, f)
				}
			}
		})
	}
	// An absolute path starting with "//" is a path, not a URI authority.
	dir := t.TempDir()
	s := open(t, "/"+filepath.Join(dir, "slashes.db"))
	s.Close()
	if files := listDir(t, dir); !slices.Contains(files, "slashes.db") {
		t.Errorf("Open(//...) created %q", files)
	}
	for _, bad := range []string{"", "keys\x00.db"} {
		if s, err := sqlite.Open(ctx, bad); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", bad)
		}
	}
}

// TestReviewL8RefusesWithoutSecureDeleteOrWAL: Open's check of the
// settings erasure depends on refuses a connection that lacks either.
func TestReviewL8RefusesWithoutSecureDeleteOrWAL(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		pragmas string
		ok      bool
	}{
		{"_pragma=secure_delete(ON)&_pragma=journal_mode(WAL)", true},
		{"_pragma=secure_delete(OFF)&_pragma=journal_mode(WAL)", false},
		{"_pragma=secure_delete(FAST)&_pragma=journal_mode(WAL)", false},
		{"_pragma=secure_delete(ON)&_pragma=journal_mode(DELETE)", false},
	} {
		db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "x.db")+"?"+tc.pragmas)
		if err != nil {
			t.Fatal(err)
		}
		err = sqlite.CheckSettings(ctx, db)
		db.Close()
		if (err == nil) != tc.ok {
			t.Errorf("%s: check = %v, want ok = %v", tc.pragmas, err, tc.ok)
		}
	}
}

// TestReviewI9DatabaseFilesAreOwnerOnly: the database file is created 0600
// whatever the umask, and SQLite gives its -wal and -shm files the same
// mode.
func TestReviewI9DatabaseFilesAreOwnerOnly(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "keys.db")
	s := open(t, path)
	if _, _, err := s.Create(ctx, keystore.Record{ID: "k", KEKID: "k", Wrapped: []byte("w")}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"keys.db", "keys.db-wal", "keys.db-shm"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("%s: %v (the check needs the file to exist)", name, err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s has mode %v, want -rw-------", name, fi.Mode())
		}
	}
}

// TestReviewL6MustExistCreatesNothing: with MustExist, Open refuses with
// ErrNoStore a path where there is no fieldcrypt store, and leaves no file
// behind and every existing file as it was.
func TestReviewL6MustExistCreatesNothing(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// Another application's database, in rollback-journal mode.
	other := filepath.Join(dir, "other.db")
	db, err := sql.Open("sqlite", "file:"+other)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{`CREATE TABLE accounts (id INTEGER PRIMARY KEY)`, `PRAGMA user_version = 7`} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	if err := os.Mkdir(filepath.Join(dir, "a-directory"), 0o700); err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		"missing file":        filepath.Join(dir, "typo.db"),
		"missing directory":   filepath.Join(dir, "no", "such", "keys.db"),
		"empty file":          write("empty.db", nil),
		"not SQLite":          write("garbage.db", bytes.Repeat([]byte("not a database "), 500)),
		"another application": other,
		"a directory":         filepath.Join(dir, "a-directory"),
	}
	snapshot := func() map[string][]byte {
		m := map[string][]byte{}
		for _, name := range listDir(t, dir) {
			if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
				m[name] = b
			}
		}
		return m
	}
	before := snapshot()
	for what, path := range cases {
		s, err := sqlite.Open(ctx, path, sqlite.MustExist())
		if err == nil {
			s.Close()
		}
		if !errors.Is(err, keystore.ErrNoStore) {
			t.Errorf("%s: Open = %v, want ErrNoStore", what, err)
		}
	}
	after := snapshot()
	if len(after) != len(before) {
		t.Errorf("files before: %q; after: %q", slices.Sorted(maps.Keys(before)), slices.Sorted(maps.Keys(after)))
	}
	for name, b := range before {
		if !bytes.Equal(after[name], b) {
			t.Errorf("%s was changed", name)
		}
	}

	// A fieldcrypt store opens, and keeps its records.
	path := filepath.Join(dir, "keys.db")
	s := open(t, path)
	if _, _, err := s.Create(ctx, keystore.Record{ID: "k", KEKID: "k", Wrapped: []byte("w")}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = sqlite.Open(ctx, path, sqlite.MustExist())
	if err != nil {
		t.Fatalf("MustExist on an existing store: %v", err)
	}
	defer s.Close()
	if _, err := s.Get(ctx, "k"); err != nil {
		t.Errorf("Get = %v", err)
	}
}

// TestReviewH1MigrationOfOldRecords: records from before the incarnation
// column keep an empty Incarnation, so an Update of one read before the
// upgrade still applies; a record created again after an erasure gets a
// random one (also when a process still running the previous fieldcrypt
// inserts it), so a stale Update of the old life fails.
func TestReviewH1MigrationOfOldRecords(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keys.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range sqlite.Migrations[:2] {
		if _, err := db.ExecContext(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	// The previous fieldcrypt's INSERT, which knows no incarnation column.
	oldInsert := `INSERT INTO fieldcrypt_keys (id, kek_id, wrapped, key_ids, version, created_us, updated_us, retain_until_us) VALUES (?, 'k', x'01', '1', 1, 1, 1, 0)`
	for _, stmt := range []string{`PRAGMA user_version = 2`, oldInsert} {
		if _, err := db.ExecContext(ctx, stmt, "old"); err != nil {
			t.Fatal(err)
		}
	}
	s := open(t, path)
	rec, err := s.Get(ctx, "old")
	if err != nil || rec.Incarnation != "" {
		t.Fatalf("old record after migration: Incarnation %q, %v; want empty", rec.Incarnation, err)
	}
	stale := rec
	rec.Wrapped = []byte("rewrapped")
	if rec, err = s.Update(ctx, rec); err != nil || rec.Incarnation != "" {
		t.Fatalf("Update of an old record = %q, %v", rec.Incarnation, err)
	}
	if _, err := s.Delete(ctx, keystore.Tombstone{ID: "old", Reason: "request"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Readmit(ctx, "old"); err != nil {
		t.Fatal(err)
	}
	// Created again by a process still running the previous fieldcrypt.
	if _, err := db.ExecContext(ctx, oldInsert, "old"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	again, err := s.Get(ctx, "old")
	if err != nil || len(again.Incarnation) < 26 {
		t.Fatalf("record inserted by the previous fieldcrypt: Incarnation %q, %v; want a random one", again.Incarnation, err)
	}
	if _, err := s.Update(ctx, stale); !errors.Is(err, keystore.ErrConflict) {
		t.Errorf("Update of the old life = %v, want ErrConflict", err)
	}
	if v := sqlite.Pragma(t, s, "user_version"); v != strconv.Itoa(len(sqlite.Migrations)) {
		t.Errorf("user_version = %s", v)
	}
}

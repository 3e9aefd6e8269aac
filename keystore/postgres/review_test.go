package postgres_test

import (
	"context"
	"errors"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/fieldcrypt/fieldcrypt/internal/pgtest"
	"github.com/fieldcrypt/fieldcrypt/keystore"
	"github.com/fieldcrypt/fieldcrypt/keystore/postgres"
)

// tablesIn counts the tables in the schema dsn's connections use.
func tablesIn(t *testing.T, dsn string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestReviewL6MustExistCreatesNothing: with MustExist, Open refuses with
// ErrNoStore a database without fieldcrypt's schema and creates nothing
// in it; an existing store opens.
func TestReviewL6MustExistCreatesNothing(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Schema(t)
	if s, err := postgres.Open(ctx, dsn, postgres.MustExist()); !errors.Is(err, keystore.ErrNoStore) {
		if err == nil {
			s.Close()
		}
		t.Errorf("MustExist on an empty schema: Open = %v, want ErrNoStore", err)
	}
	if n := tablesIn(t, dsn); n != 0 {
		t.Errorf("MustExist created %d tables", n)
	}
	// Another application's tables are not a store either.
	other := pgtest.Schema(t)
	conn, err := pgx.Connect(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE accounts (id int)`); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	if _, err := postgres.Open(ctx, other, postgres.MustExist()); !errors.Is(err, keystore.ErrNoStore) {
		t.Errorf("MustExist on another application's schema: Open = %v, want ErrNoStore", err)
	}
	if n := tablesIn(t, other); n != 1 {
		t.Errorf("MustExist changed another application's schema: %d tables", n)
	}

	open(t, dsn).Close()
	s, err := postgres.Open(ctx, dsn, postgres.MustExist())
	if err != nil {
		t.Fatalf("MustExist on an existing store: %v", err)
	}
	s.Close()
}

// TestReviewH1MigrationOfOldRecords: records from before the incarnation
// column keep an empty Incarnation, so an Update of one read before the
// upgrade still applies; a record created again after an erasure gets a
// random one (also when an instance still running the previous fieldcrypt
// inserts it), so a stale Update of the old life fails.
func TestReviewH1MigrationOfOldRecords(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Schema(t)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	oldInsert := `INSERT INTO fieldcrypt_keys (id, kek_id, wrapped, key_ids, version, created, updated) VALUES ('old', 'k', '\x01', '{1}', 1, now(), now())`
	for _, stmt := range append(append([]string{}, postgres.Migrations[:2]...),
		`CREATE TABLE fieldcrypt_schema (version int NOT NULL)`,
		`INSERT INTO fieldcrypt_schema VALUES (2)`,
		oldInsert) {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	s := open(t, dsn)
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
	if _, err := conn.Exec(ctx, oldInsert); err != nil {
		t.Fatal(err)
	}
	again, err := s.Get(ctx, "old")
	if err != nil || len(again.Incarnation) < 26 {
		t.Fatalf("record inserted by the previous fieldcrypt: Incarnation %q, %v; want a random one", again.Incarnation, err)
	}
	if _, err := s.Update(ctx, stale); !errors.Is(err, keystore.ErrConflict) {
		t.Errorf("Update of the old life = %v, want ErrConflict", err)
	}
}

// TestReviewL14VacuumPrivileges: Vacuum succeeds for a role that owns the
// table but may not CHECKPOINT, and fails, rather than skipping the table
// as PostgreSQL does, for a role that may not vacuum it: one that may only
// use the tables (and so can open an up-to-date store).
func TestReviewL14VacuumPrivileges(t *testing.T) {
	ctx := context.Background()
	dsn, owner := roleDSN(t)
	s := open(t, dsn)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	var pgErr *pgconn.PgError
	if _, err := conn.Exec(ctx, `CHECKPOINT`); !errors.As(err, &pgErr) || pgErr.Code != "42501" {
		t.Fatalf("CHECKPOINT as %s = %v; the test needs a role that may not", owner, err)
	}
	conn.Close(ctx)
	if err := s.Vacuum(ctx); err != nil {
		t.Errorf("Vacuum as the table's owner, without CHECKPOINT = %v", err)
	}

	// A role that may use the store but does not own its table.
	user := "fc_user_" + token()
	u, _ := url.Parse(dsn)
	schema := u.Query().Get("search_path")
	pgtest.Exec(t, `CREATE ROLE `+user+` LOGIN`)
	t.Cleanup(func() {
		pgtest.Exec(t, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1`, user)
		pgtest.Exec(t, `DROP OWNED BY `+user)
		pgtest.Exec(t, `DROP ROLE `+user)
	})
	pgtest.Exec(t, `GRANT USAGE ON SCHEMA `+schema+` TO `+user)
	pgtest.Exec(t, `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA `+schema+` TO `+user)
	pgtest.Exec(t, `GRANT USAGE ON ALL SEQUENCES IN SCHEMA `+schema+` TO `+user)
	u.User = url.User(user)
	us := open(t, u.String()) // a role with the rights to use the tables only
	if _, _, err := us.Create(ctx, keystore.Record{ID: "k", KEKID: "k", Wrapped: []byte("w")}); err != nil {
		t.Fatal(err)
	}
	if _, err := us.Delete(ctx, keystore.Tombstone{ID: "k", Reason: "request"}); err != nil {
		t.Fatal(err)
	}
	if err := us.Vacuum(ctx); err == nil {
		t.Error("Vacuum by a role that may not vacuum the table succeeded")
	} else {
		t.Logf("Vacuum as %s: %v", user, err)
	}
}

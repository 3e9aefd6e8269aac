package postgres_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/fieldcrypt/fieldcrypt/internal/pgtest"
	"github.com/fieldcrypt/fieldcrypt/keystore"
	"github.com/fieldcrypt/fieldcrypt/keystore/postgres"
	"github.com/fieldcrypt/fieldcrypt/keystore/storetest"
)

func open(t *testing.T, dsn string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func newStore(t *testing.T) keystore.Store { return open(t, pgtest.Schema(t)) }

func restore(t *testing.T, s keystore.Store, rec keystore.Record) {
	postgres.Restore(t, s.(*postgres.Store), rec)
}

func TestConformance(t *testing.T) {
	storetest.Run(t, newStore, storetest.WithRestore(restore))
}

// TestReviewH1UpdateAcrossErasure: an Update of a record read before
// Delete + Readmit + Create fails with ErrConflict.
func TestReviewH1UpdateAcrossErasure(t *testing.T) {
	storetest.Run(t, newStore, storetest.Only("UpdateAcrossErasure"))
}

// TestMigrateIsIdempotentAndConcurrent opens one schema from several
// instances at once and again later: one migration, no errors.
func TestMigrateIsIdempotentAndConcurrent(t *testing.T) {
	dsn := pgtest.Schema(t)
	errs := make(chan error, 5)
	for range 5 {
		go func() {
			s, err := postgres.Open(context.Background(), dsn)
			if err == nil {
				s.Close()
			}
			errs <- err
		}()
	}
	for range 5 {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent Open: %v", err)
		}
	}
	s := open(t, dsn)
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if v, err := s.SchemaVersion(context.Background()); err != nil || v != len(postgres.Migrations) {
		t.Errorf("schema version = %d, %v; want %d", v, err, len(postgres.Migrations))
	}
}

// TestReceiptsAreAppendOnly: the database itself refuses to change or
// remove a receipt, whoever asks.
func TestReceiptsAreAppendOnly(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Schema(t)
	s := open(t, dsn)
	if _, err := s.Delete(ctx, keystore.Tombstone{ID: "gone", Reason: "request"}); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, stmt := range []string{`UPDATE fieldcrypt_receipts SET reason = 'x'`, `DELETE FROM fieldcrypt_receipts`, `TRUNCATE fieldcrypt_receipts`} {
		if _, err := conn.Exec(ctx, stmt); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v, want refused as append-only", stmt, err)
		}
	}
	if rs, _ := s.Receipts(ctx, keystore.ReceiptQuery{Limit: 10}); len(rs) != 1 || rs[0].Reason != "request" {
		t.Errorf("receipts after the attempts = %+v", rs)
	}
}

package postgres_test

import (
	"context"
	"testing"

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

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) keystore.Store { return open(t, pgtest.Schema(t)) })
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
	if v, err := s.SchemaVersion(context.Background()); err != nil || v != 1 {
		t.Errorf("schema version = %d, %v; want 1", v, err)
	}
}

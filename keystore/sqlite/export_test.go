package sqlite

import (
	"context"
	"database/sql"
	"testing"

	"github.com/fieldcrypt/fieldcrypt/keystore"
)

// Restore puts rec back as it is, beside any tombstone, as restoring a
// backup taken before an erasure would.
func Restore(t *testing.T, s *Store, rec keystore.Record) {
	t.Helper()
	if _, err := s.db.ExecContext(context.Background(), `
		INSERT INTO fieldcrypt_keys (id, kek_id, wrapped, key_ids, version, incarnation, created_us, updated_us, retain_until_us)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		rec.ID, rec.KEKID, rec.Wrapped, formatKeyIDs(rec.KeyIDs), rec.Version, rec.Incarnation,
		rec.Created.UnixMicro(), rec.Updated.UnixMicro(), micros(rec.RetainUntil)); err != nil {
		t.Fatalf("restore %s: %v", rec.ID, err)
	}
}

// Pragma returns the value of PRAGMA name on one of s's connections.
func Pragma(t *testing.T, s *Store, name string) string {
	t.Helper()
	var v string
	if err := s.db.QueryRowContext(context.Background(), `PRAGMA `+name).Scan(&v); err != nil {
		t.Fatalf("PRAGMA %s: %v", name, err)
	}
	return v
}

// CheckSettings runs Open's check of the erasure settings on db.
func CheckSettings(ctx context.Context, db *sql.DB) error {
	return (&Store{db: db}).checkSettings(ctx)
}

// Migrations is the schema's migrations, for building old databases.
var Migrations = migrations
